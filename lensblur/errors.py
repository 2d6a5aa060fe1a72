"""The exceptions lensblur raises.

Every error subclasses a builtin, so ``except ValueError`` keeps working, and every message says which
argument was wrong, what was received, and how to fix it.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Iterator

__all__ = [
    "InputError",
    "InvalidParameterError",
    "UnknownNameError",
    "MissingDependencyError",
    "FileFormatError",
    "OutputExistsError",
    "WeightsUnavailableError",
    "cli_messages",
    "hint",
]

_MARK = re.compile("\x1f(.*?)\x1e(.*?)\x1d", re.S)
_SPEAK_CLI = [False]


def hint(python: str, cli: str) -> str:
    """A fix stated in the caller's terms: ``python`` (argument names) for API callers, ``cli`` (flag names)
    when the command line runs. Both are kept in the message; :func:`speak` picks one when it is shown."""
    return f"\x1f{python}\x1e{cli}\x1d"


def speak(text: str) -> str:
    """``text`` with every :func:`hint` resolved for the interface in use."""
    return _MARK.sub(lambda m: m.group(2) if _SPEAK_CLI[0] else m.group(1), text)


@contextlib.contextmanager
def cli_messages() -> Iterator[None]:
    """Within this block, errors name command-line flags instead of Python arguments."""
    previous = _SPEAK_CLI[0]
    _SPEAK_CLI[0] = True
    try:
        yield
    finally:
        _SPEAK_CLI[0] = previous


class _Speaks:
    """Mixin: the message is shown in the caller's terms (see :func:`hint`)."""

    def __str__(self) -> str:
        return speak(super().__str__())


class InputError(_Speaks, ValueError):
    """A data argument (image, depth map, blur map) has the wrong shape, range or kind."""


class InvalidParameterError(_Speaks, ValueError):
    """A setting (lens, aperture, focus, highlights) is out of its valid range."""


class UnknownNameError(_Speaks, ValueError):
    """A name (renderer, backend, aperture) is not one lensblur knows."""

    @classmethod
    def suggest(cls, what: str, name: str, known: Iterable[str]) -> UnknownNameError:
        """Build the error for an unknown ``name``, with the closest known name as a hint."""
        known = sorted(known)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return cls(f"Unknown {what} {name!r}; choose one of {', '.join(map(repr, known))}.{hint}")


class MissingDependencyError(_Speaks, ImportError):
    """An optional dependency needed for this feature is not installed."""


class FileFormatError(_Speaks, ValueError):
    """A file cannot be read: missing, unreadable, truncated, or in a format lensblur does not read."""


class OutputExistsError(_Speaks, FileExistsError):
    """An output path exists (or is an input) and overwriting was not asked for."""


class WeightsUnavailableError(_Speaks, OSError):
    """Model weights could not be found locally or downloaded; the message says how to provide them."""
