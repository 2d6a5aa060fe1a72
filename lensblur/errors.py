"""The exceptions lensblur raises.

Every error subclasses a builtin, so ``except ValueError`` keeps working, and every message says which
argument was wrong, what was received, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "InputError",
    "InvalidParameterError",
    "UnknownNameError",
    "MissingDependencyError",
    "FileFormatError",
    "OutputExistsError",
    "WeightsUnavailableError",
]


class InputError(ValueError):
    """A data argument (image, depth map, blur map) has the wrong shape, range or kind."""


class InvalidParameterError(ValueError):
    """A setting (lens, aperture, focus, highlights) is out of its valid range."""


class UnknownNameError(ValueError):
    """A name (renderer, backend, aperture) is not one lensblur knows."""

    @classmethod
    def suggest(cls, what: str, name: str, known: Iterable[str]) -> UnknownNameError:
        """Build the error for an unknown ``name``, with the closest known name as a hint."""
        known = sorted(known)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return cls(f"Unknown {what} {name!r}; choose one of {', '.join(map(repr, known))}.{hint}")


class MissingDependencyError(ImportError):
    """An optional dependency needed for this feature is not installed."""


class FileFormatError(ValueError):
    """A file cannot be read: missing, unreadable, truncated, or in a format lensblur does not read."""


class OutputExistsError(FileExistsError):
    """An output path exists (or is an input) and overwriting was not asked for."""


class WeightsUnavailableError(OSError):
    """Model weights could not be found locally or downloaded; the message says how to provide them."""
