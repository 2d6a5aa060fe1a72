"""Lazy import of optional dependencies, with the install hint in the error."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def require(module: str, *, extra: str, feature: str = "this feature") -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{module!r} is required for {feature}: pip install 'lensblur[{extra}]'"
        ) from err
