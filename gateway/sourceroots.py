"""Load each app from its own source root, so two apps with top-level modules of the
same name (``auth``, ``config``, ``utils``) live in one process.

Python has one ``sys.modules``: a second ``import auth`` returns the first
app's module. ``load_from_root`` imports an app with its root first on
``sys.path`` and the names it owns cleared from ``sys.modules`` (what was
there is put back afterwards), then takes the modules it loaded out of
``sys.modules`` again. The app keeps them (its functions' globals hold them),
and another app can now import its own ``auth``.

The edge: an import made later, at request time (``import auth`` inside a
function), finds no module in ``sys.modules``. A finder answers it with the
app's own module when exactly one root owns the name, and raises ImportError
naming the roots when several do: move such imports to module level.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_lock = threading.Lock()


class SourceRootError(Exception):
    """A source root that is not a directory; the message names it."""


def top_level_names(root: Path) -> frozenset[str]:
    """The importable top-level names a directory provides: modules, packages and
    namespace directories."""
    names = set()
    for entry in root.iterdir():
        if entry.is_file() and entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier():
            names.add(entry.name)
    return frozenset(names)


class _Owned(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of names the isolated roots own but no longer have in sys.modules:
    the module the app loaded, or the root's own file for one it did not load yet."""

    def __init__(self) -> None:
        self.modules: dict[Path, dict[str, types.ModuleType]] = {}
        self.names: dict[Path, frozenset[str]] = {}
        # Top-level names of the root being loaded now: its own files answer those.
        self.loading: frozenset[str] = frozenset()

    def owners(self, fullname: str) -> list[Path]:
        return [root for root, own in self.names.items() if _owned(fullname, own)]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        owners = [] if _owned(fullname, self.loading) else self.owners(fullname)
        if not owners:
            return None
        if len(owners) > 1:
            roots = ", ".join(str(r) for r in owners)
            raise ImportError(
                f"module {fullname!r} exists in several app source roots ({roots}); an import "
                "of it after start-up cannot tell which app means it: import it at module level",
                name=fullname,
            )
        (root,) = owners
        if fullname in self.modules.get(root, {}):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=False)
        if "." in fullname:
            return None  # the parent package (the app's) has the path to search
        return importlib.machinery.PathFinder.find_spec(fullname, [str(root)])

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        (root,) = self.owners(spec.name)
        return self.modules[root][spec.name]

    def exec_module(self, module: types.ModuleType) -> None:
        return None  # already executed when the app was loaded


_finder = _Owned()


def _owned(name: str, own: frozenset[str]) -> bool:
    return name.partition(".")[0] in own


def load_from_root(root: Path | str, load: Callable[[], Any]) -> Any:
    """Run ``load()`` (an import and maybe a factory call) with ``root`` as the first
    place to import from and the names it owns isolated; returns what ``load``
    returns. Raises SourceRootError when ``root`` is not a directory; whatever
    ``load`` raises propagates (sys.modules and sys.path are restored either way).
    """
    directory = Path(root).expanduser().resolve()
    if not directory.is_dir():
        raise SourceRootError(f"source root {str(root)!r} is not a directory")
    own = top_level_names(directory)
    with _lock:
        saved = {name: mod for name, mod in sys.modules.items() if _owned(name, own)}
        for name in saved:
            del sys.modules[name]
        sys.path.insert(0, str(directory))
        _finder.loading = own
        importlib.invalidate_caches()
        try:
            return load()
        finally:
            _finder.loading = frozenset()
            sys.path.remove(str(directory))
            loaded = {name: mod for name, mod in sys.modules.items() if _owned(name, own)}
            for name in loaded:
                del sys.modules[name]
            sys.modules.update(saved)
            _finder.modules.setdefault(directory, {}).update(loaded)
            _finder.names[directory] = own
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            importlib.invalidate_caches()


def forget(root: Path | str) -> None:
    """Stop answering imports for ``root`` (its app is gone: tests, reloads)."""
    directory = Path(root).expanduser().resolve()
    with _lock:
        _finder.modules.pop(directory, None)
        _finder.names.pop(directory, None)
