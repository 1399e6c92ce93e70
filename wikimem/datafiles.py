"""The data packages (`templates/`, `bootstrap/`), found the same way in a wheel and a checkout.

The repository keeps `templates/` and `bootstrap/` at its top level, where people look for them;
the wheel maps them to the packages `wikimem.templates` and `wikimem.bootstrap` (pyproject.toml).
Run from a source checkout (`python -m wikimem` at the repository root puts the source folder
first on `sys.path`), `wikimem` has no such subpackages: the folders beside it are the data.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGES = ("templates", "bootstrap", "demo_data")


def folder(name: str) -> Traversable:
    """The data package `name` ("templates", "bootstrap" or "demo_data") as a readable folder."""
    if name not in PACKAGES:
        raise ValueError(f"no data package {name!r}")
    try:
        return resources.files(f"wikimem.{name}")
    except ModuleNotFoundError:
        # Trigger: wikimem imported from a source checkout, not from an installed wheel.
        # Why: the checkout keeps the data at the repository's top level (see module docstring).
        # Outcome: the same files the wheel ships, read from where they are checked in.
        beside = Path(__file__).resolve().parent.parent / name
        if (beside / "__init__.py").is_file():
            return beside
        raise


def read_text(name: str, relative: str) -> str:
    """A text file of a data package, e.g. read_text("templates", "session.md")."""
    return folder(name).joinpath(relative).read_text(encoding="utf-8")
