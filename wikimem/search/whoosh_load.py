"""Loading Whoosh for one search: without two modules it imports and a search never uses.

Whoosh imports `urllib.request` (for `whoosh.compat.urlretrieve`, a Python 2 shim; with it come
`http.client`, `email` and `ssl`) and the `cached_property` package (for one property of a
segment reader; it imports `asyncio`). They were about a quarter of a one-shot `wikimem search`
(docs/BENCHMARKS.md). Two smaller ones: `whoosh.lang.morph_en` (for a query wikimem never
makes) and `hashlib` (for MD5, which the interpreter's `_md5` computes without loading
OpenSSL). `lightly()` is the only place that imports Whoosh with stand-ins for them; the
one-shot search path in entry.py uses it, every other process imports Whoosh as usual.

A stand-in is put in `sys.modules` only while Whoosh's modules load, and only for a module not
already imported; it is removed after, so an `import urllib.request` later gets the real module.
What Whoosh keeps of a stand-in works as the real thing: `urlretrieve` imports the real one when
called, and `cached_property` caches a plain method's value in the instance as the package does
(a coroutine method, which Whoosh has none of, goes to the package itself). Any other name asked
of a stand-in while it is in place loads the real module and answers from it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
from collections.abc import Iterator
from typing import Any

# The Whoosh modules a search loads (wikimem.search.index and what it imports): loaded here.
WHOOSH_MODULES = ("whoosh.query", "whoosh.index", "whoosh.reading", "whoosh.searching",
                  "whoosh.codec.whoosh3", "whoosh.filedb.filestore", "whoosh.scoring")


def _urlretrieve(*args: Any, **kwargs: Any) -> Any:
    from urllib.request import urlretrieve

    return urlretrieve(*args, **kwargs)


class _CachedProperty:
    """What `cached_property.cached_property` does for a plain method: computed once per
    instance, then kept in the instance's `__dict__` (deleting it computes it again)."""

    def __init__(self, func: Any) -> None:
        self.__doc__ = func.__doc__
        self.func = func
        self._coroutine = inspect.iscoroutinefunction(func)

    def __get__(self, obj: Any, cls: Any) -> Any:
        if obj is None:
            return self
        if self._coroutine:
            from cached_property import cached_property

            return cached_property(self.func).__get__(obj, cls)
        value = obj.__dict__[self.func.__name__] = self.func(obj)
        return value


class _StandIn(types.ModuleType):
    """A module put in place of a real one while Whoosh loads: the names Whoosh takes from it,
    and for any other name the real module (loaded then)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _variations(*args: Any, **kwargs: Any) -> Any:
    from whoosh.lang.morph_en import variations

    return variations(*args, **kwargs)


STAND_INS: dict[str, dict[str, Any]] = {
    "urllib.request": {"urlretrieve": _urlretrieve},
    "cached_property": {"cached_property": _CachedProperty},
    # English word variations (the Variations query, which wikimem does not use): its import
    # compiles a few hundred patterns.
    "whoosh.lang.morph_en": {"variations": _variations},
}
try:
    # The interpreter's own MD5, the digest Whoosh's hash tables use for keys: `hashlib` would
    # load OpenSSL for it (as fsio.py does for SHA-256).
    from _md5 import md5 as _md5

    STAND_INS["hashlib"] = {"md5": _md5}
except ImportError:  # pragma: no cover - a build without the builtin hashes: the real one
    pass


@contextlib.contextmanager
def _standing_in() -> Iterator[list[str]]:
    placed = []
    try:
        for name, attrs in STAND_INS.items():
            if name in sys.modules:
                continue
            module = _StandIn(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
            placed.append(name)
        yield placed
    finally:
        for name in placed:
            module = sys.modules.get(name)
            if isinstance(module, _StandIn):
                del sys.modules[name]


def lightly() -> None:
    """Import the Whoosh modules a search uses, with the stand-ins while they load. Nothing
    happens when Whoosh is loaded already; after a failure the stand-ins are gone all the same,
    and the search's own import of Whoosh meets (and reports) it again."""
    if "whoosh" in sys.modules:
        return
    try:
        with _standing_in():
            for name in WHOOSH_MODULES:
                importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the search imports it again, and says what fails
        pass
