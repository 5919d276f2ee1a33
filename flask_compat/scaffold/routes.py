"""A blueprint's rules as FastAPI routes: paths, typed path parameters, methods, names.

Werkzeug converters become Starlette convertors and Python annotations:
``int`` -> ``{x:int}`` / ``int``, ``float`` -> ``{x:float}`` / ``float``,
``path`` -> ``{x:path}`` / ``str``, ``uuid`` -> ``{x:uuid}`` / ``uuid.UUID``,
``string``, ``any`` and custom converters -> ``{x}`` / ``str`` (with a note
where Flask would have refused more URLs than the new route does).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
# Werkzeug converter name -> (Starlette convertor or None for str, annotation).
_CONVERTERS: dict[str, tuple[str | None, str]] = {
    "default": (None, "str"),
    "string": (None, "str"),
    "int": ("int", "int"),
    "float": ("float", "float"),
    "path": ("path", "str"),
    "uuid": ("uuid", "uuid.UUID"),
    "any": (None, "str"),
}


class ScaffoldError(Exception):
    """The blueprint or app cannot be scaffolded; the message says why."""


@dataclass(frozen=True, slots=True)
class PathParam:
    """One path parameter: its name, annotation and a note on what Flask checked more."""

    name: str
    annotation: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """One Flask rule as a FastAPI route."""

    rule: str
    path: str
    methods: tuple[str, ...]
    params: tuple[PathParam, ...]
    defaults: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ViewPlan:
    """One Flask endpoint: its view function and every rule that routes to it."""

    endpoint: str
    view: Callable[..., Any]
    routes: tuple[RoutePlan, ...]
    app: Flask | None = None

    @property
    def function_name(self) -> str:
        return self.endpoint.rpartition(".")[2]


def fastapi_path(rule: str) -> tuple[str, tuple[PathParam, ...]]:
    """``/post/<int:id>`` -> (``/post/{id:int}``, (PathParam("id", "int"),))."""
    params: list[PathParam] = []

    def replace(match: re.Match[str]) -> str:
        converter = match.group("converter") or "default"
        name = match.group("variable")
        convertor, annotation = _CONVERTERS.get(converter, (None, "str"))
        note = None
        if converter not in _CONVERTERS:
            note = f"Flask's custom converter {converter!r}: validate {name} yourself"
        elif match.group("arguments") or converter == "any":
            spec = match.group(0)
            note = f"Flask's {spec} refused more values: check {name} yourself"
        params.append(PathParam(name, annotation, note))
        return "{" + name + (":" + convertor if convertor else "") + "}"

    return _VARIABLE.sub(replace, rule), tuple(params)


def route_plan(rule: Rule) -> RoutePlan:
    path, params = fastapi_path(rule.rule)
    methods = set(rule.methods or ()) - AUTOMATIC_METHODS or set(rule.methods or ())
    defaults = tuple(sorted((rule.defaults or {}).items()))
    return RoutePlan(rule.rule, path, tuple(sorted(methods)), params, defaults)


def blueprint_views(flask_app: Flask, blueprint: str | None) -> list[ViewPlan]:
    """The endpoints of ``blueprint`` (nested ones included), or the app's own
    endpoints when ``blueprint`` is None; static folders are left out
    (``FlaskCompat.install()`` serves them). Raises ScaffoldError for an
    unknown blueprint."""
    if blueprint is not None and blueprint not in flask_app.blueprints:
        known = ", ".join(sorted(flask_app.blueprints)) or "none"
        raise ScaffoldError(f"no blueprint {blueprint!r} in the Flask app (blueprints: {known})")
    by_endpoint: dict[str, list[Rule]] = {}
    for rule in flask_app.url_map.iter_rules():
        endpoint = str(rule.endpoint)
        prefix, _, last = endpoint.rpartition(".")
        if last == "static" or endpoint == "static":
            continue
        mine = prefix == "" if blueprint is None else endpoint.startswith(blueprint + ".")
        if mine and endpoint in flask_app.view_functions:
            by_endpoint.setdefault(endpoint, []).append(rule)
    plans = []
    for endpoint, rules in by_endpoint.items():
        view = inspect.unwrap(flask_app.view_functions[endpoint])
        plans.append(ViewPlan(endpoint, view, tuple(route_plan(r) for r in rules), flask_app))
    if not plans:
        where = f"blueprint {blueprint!r}" if blueprint else "the app itself"
        raise ScaffoldError(f"{where} has no routes to scaffold")
    return plans
