"""The import block of a scaffolded module: each name imported once.

Converted views and ``before_request`` hooks import the names they read from
their own Flask module. Two modules may give the same name: the same object
(a hook module that does ``from flaskr.auth import USERS``) is imported once,
from the module that defines it; different objects get an alias (``USERS_hooks``)
and the code that reads them is renamed (:func:`rename`). A name of the kit or
of a function the module defines is never shadowed by an import either.
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import libcst as cst

# Modules whose names the writer itself uses by their own name in the code it writes.
KIT_MODULES = frozenset({"fastapi", "flask_compat", "typing", "uuid"})
KIT_NAMES = frozenset(
    {
        "APIRouter", "Annotated", "CurrentUser", "Depends", "FlaskCompat", "Form",
        "HTTPException", "RedirectResponse", "Request", "csrf_protect", "flash",
        "flask_form", "fresh_login_required", "g", "get_flashed_messages",
        "login_required", "render_template", "render_template_string", "router",
        "url_for", "uuid",
    }
)  # fmt: skip

_MISSING = object()


def is_kit(module: str) -> bool:
    return module.split(".")[0] in KIT_MODULES


@dataclass
class Imports:
    """``from module import name [as local]`` and ``import module [as alias]`` lines."""

    names: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> {name: local}
    modules: dict[str, str] = field(default_factory=dict)  # alias -> module
    reserved: set[str] = field(default_factory=set)  # names the module defines

    def add(self, module: str, *names: str) -> None:
        """The kit's own names (fastapi, flask_compat...), imported under their name."""
        for name in names:
            self.names.setdefault(module, {})[name] = name

    def taken(self, local: str) -> bool:
        return (
            local in self.reserved
            or local in self.modules
            or any(local in bound.values() for bound in self.names.values())
        )

    def _owner(self, local: str) -> tuple[str, str] | None:
        """(module, name) of the from-import bound to ``local``."""
        for module, bound in self.names.items():
            for name, as_ in bound.items():
                if as_ == local:
                    return module, name
        return None

    def bind(self, module: str, name: str) -> str:
        """Import ``name`` from the user's ``module``; the local name to use for it."""
        if name in self.names.get(module, {}):
            return self.names[module][name]
        obj = lookup(module, name)
        owner = self._owner(name)
        if (
            owner is not None
            and owner[1] == name
            and not is_kit(owner[0])
            and obj is not _MISSING
            and lookup(*owner) is obj
        ):
            home = defining_module(name, obj, [owner[0], module])
            if home != owner[0]:
                del self.names[owner[0]][name]
                if not self.names[owner[0]]:
                    del self.names[owner[0]]
                self.names.setdefault(home, {})[name] = name
            return name
        local = name
        if self.taken(local) or name in KIT_NAMES:
            local = self._alias(name, module)
        self.names.setdefault(module, {})[name] = local
        return local

    def bind_module(self, module: str, alias: str) -> str:
        """``import module as alias`` for the user's code; the local name to use."""
        if self.modules.get(alias) == module:
            return alias
        for local, bound in self.modules.items():
            if bound == module:
                return local
        local = alias
        if self.taken(local) or (alias in KIT_NAMES and not is_kit(module)):
            local = self._alias(alias, module)
        self.modules[local] = module
        return local

    def _alias(self, name: str, module: str) -> str:
        leaf = module.rpartition(".")[2].strip("_") or "mod"
        base = f"{name}_{leaf.upper() if name.isupper() else leaf}"
        local, n = base, 2
        while self.taken(local) or local in KIT_NAMES:
            local, n = f"{base}{n}", n + 1
        return local

    def lines(self, first_party: Iterable[str]) -> list[str]:
        """Imports grouped and sorted as ruff's isort does by default: stdlib, third
        party, the app's modules; plain imports before from-imports in each group."""
        stdlib = set(sys.stdlib_module_names)
        own = set(first_party)

        def group(module: str) -> int:
            top = module.split(".")[0]
            return 0 if top in stdlib else 2 if top in own else 1

        blocks: dict[int, list[tuple[str, str]]] = {0: [], 1: [], 2: []}
        for alias, module in self.modules.items():
            parent, _, leaf = module.rpartition(".")
            if parent and alias == leaf:
                line = f"from {parent} import {leaf}"
                blocks[group(module)].append((_sort_key(parent, True), line))
            else:
                line = f"import {module}" + (f" as {alias}" if alias != module else "")
                blocks[group(module)].append((_sort_key(module, False), line))
        for module, bound in self.names.items():
            members = ", ".join(
                name if local == name else f"{name} as {local}"
                for name, local in sorted(bound.items(), key=lambda item: _member_key(item[0]))
            )
            blocks[group(module)].append(
                (_sort_key(module, True), f"from {module} import {members}")
            )
        out: list[str] = []
        for key in (0, 1, 2):
            if blocks[key]:
                out.extend(line for _, line in sorted(blocks[key]))
                out.append("")
        return out


def _sort_key(module: str, from_import: bool) -> str:
    # isort's default (force-sort-within-sections off): plain imports first, then from-imports.
    return f"{int(from_import)}{module.lower()}"


def _member_key(name: str) -> tuple[int, str]:
    # isort's order-by-type: CONSTANTS, then Classes, then functions and variables.
    if name.isupper() and len(name) > 1:
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def lookup(module: str, name: str) -> object:
    """``module.name`` if the module is loaded and has it, else a sentinel."""
    loaded = sys.modules.get(module)
    return getattr(loaded, name, _MISSING) if loaded is not None else _MISSING


def defining_module(name: str, obj: object, candidates: list[str]) -> str:
    """Of modules that all bind ``name`` to ``obj``, the one that defines it: a
    function's or class's own module, else the first that does not import it."""
    if isinstance(obj, type | types.FunctionType):
        home = getattr(obj, "__module__", None)
        if isinstance(home, str) and lookup(home, name) is obj:
            return home
    for module in candidates:
        if not imports_name(module, name):
            return module
    return candidates[0]


def imports_name(module: str, name: str) -> bool:
    """Whether the module's top-level code binds ``name`` by an import statement."""
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module]))
    except (KeyError, OSError, TypeError, SyntaxError):
        return False
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        elif isinstance(node, ast.If | ast.Try | ast.With):
            pending += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            for handler in getattr(node, "handlers", []):
                pending += handler.body
    return False


class _Rename(cst.CSTTransformer):
    def __init__(self, renames: Mapping[str, str]) -> None:
        self.renames = renames

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        new = self.renames.get(updated.value)
        return updated.with_changes(value=new) if new else updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        return updated.with_changes(attr=original.attr)  # obj.USERS is no variable

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)  # nor f(USERS=...)


def rename(code: str, renames: Mapping[str, str]) -> str:
    """``code`` with the variables ``renames`` names renamed (attributes and keyword
    arguments of the same name stay)."""
    renames = {old: new for old, new in renames.items() if old != new}
    if not renames:
        return code
    return cst.parse_module(code).visit(_Rename(renames)).code
