"""Parity and progress: how far the port has got, route by route.

A legacy rule counts as implemented in the new app only when a new route
agrees with it on four things: its name is the Flask endpoint, its path has
the same shape (static parts and variables in the same places), it serves the
rule's methods, and its path parameters have the same names. A new route that
merely answers the same path but reads other names is listed with its
disagreements, so a half-done port does not look done.

Pure functions over plain rows: the admin API (``GET <prefix>/status``), the
CLI (``migrate-gateway status``) and any dashboard build the same report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from werkzeug.routing import Rule

from gateway.flags import FlagTable, Groups

AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
# The route tag `migrate-gateway scaffold` puts on routes it could not port
# (flask_compat.scaffold.module.SCAFFOLD_TAG; no import: gateway does not need flask_compat).
SCAFFOLD_TAG = "x-scaffold"
State = Literal["implemented", "disagrees", "missing"]

# Werkzeug's own grammar for a variable part: <converter(args):name> or <name>.
_WERKZEUG_VAR = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
_STARLETTE_VAR = re.compile(r"{(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)(?::(?P<convertor>\w+))?}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route of either app, reduced to what parity compares."""

    name: str
    path: str
    methods: tuple[str, ...]
    params: tuple[str, ...]
    # "stub" / "todo": a `migrate-gateway scaffold` route not ported yet.
    scaffold: str | None = None

    @property
    def shape(self) -> str:
        return path_shape(self.path)


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One legacy rule: its state in the new app, its flag and its shadow score."""

    endpoint: str
    rule: str
    methods: tuple[str, ...]
    params: tuple[str, ...]
    state: State
    disagreements: tuple[str, ...]
    new: Endpoint | None
    flag: str
    group: str | None
    shadow_matched: int = 0
    shadow_mismatched: int = 0

    @property
    def shadow_match_rate(self) -> float | None:
        total = self.shadow_matched + self.shadow_mismatched
        return self.shadow_matched / total if total else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["methods"] = list(self.methods)
        data["params"] = list(self.params)
        data["disagreements"] = list(self.disagreements)
        data["new"] = (
            None
            if self.new is None
            else {
                "name": self.new.name,
                "path": self.new.path,
                "methods": list(self.new.methods),
                "params": list(self.new.params),
            }
        )
        data["shadow_match_rate"] = self.shadow_match_rate
        return data


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Totals and rows; ``as_dict()`` is the JSON the admin API and the CLI print."""

    rows: tuple[StatusRow, ...]
    new_only: tuple[Endpoint, ...] = field(default_factory=tuple)

    def totals(self) -> dict[str, Any]:
        states = {s: sum(1 for r in self.rows if r.state == s) for s in _STATES}
        flags = {k: 0 for k in ("legacy", "new", "canary", "shadow")}
        for row in self.rows:
            kind = row.flag.split()[0] if row.flag else "legacy"
            flags[kind] = flags.get(kind, 0) + 1
        matched = sum(r.shadow_matched for r in self.rows)
        mismatched = sum(r.shadow_mismatched for r in self.rows)
        legacy = len(self.rows)
        return {
            "legacy_routes": legacy,
            **states,
            "progress": round(states["implemented"] / legacy, 4) if legacy else 1.0,
            "flagged": flags,
            "new_only": len(self.new_only),
            "shadow": {
                "matched": matched,
                "mismatched": mismatched,
                "match_rate": matched / (matched + mismatched) if matched + mismatched else None,
            },
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals(),
            "routes": [row.as_dict() for row in self.rows],
            "new_only": [asdict(e) | {"methods": list(e.methods)} for e in self.new_only],
        }


_STATES: tuple[State, ...] = ("implemented", "disagrees", "missing")


def path_shape(path: str) -> str:
    """The path with every variable as ``{}``: ``/post/<int:id>`` and ``/post/{id:int}``
    both give ``/post/{}``."""
    return _STARLETTE_VAR.sub("{}", _WERKZEUG_VAR.sub("{}", path))


def legacy_endpoint(rule: Rule) -> Endpoint:
    """A Werkzeug rule as an Endpoint (methods without HEAD/OPTIONS, unless that is all)."""
    methods = set(rule.methods or ())
    wanted = methods - AUTOMATIC_METHODS or methods
    params = tuple(m.group("variable") for m in _WERKZEUG_VAR.finditer(rule.rule))
    return Endpoint(str(rule.endpoint), rule.rule, tuple(sorted(wanted)), params)


def new_endpoints(routes: Iterable[BaseRoute]) -> list[Endpoint]:
    """Starlette/FastAPI routes (flattened, full paths) as Endpoints."""
    found = []
    for route in routes:
        if isinstance(route, Route):
            methods = set(route.methods or ()) - AUTOMATIC_METHODS or set(route.methods or ())
        elif isinstance(route, WebSocketRoute):
            methods = {"WEBSOCKET"}
        elif isinstance(route, Mount) and route.name:
            # A named mount (a static folder flask_compat mounted) serves what
            # Flask's static rule ``<prefix>/<path:filename>`` serves.
            path = route.path.rstrip("/") + "/{filename:path}"
            found.append(Endpoint(str(route.name), path, ("GET",), ("filename",)))
            continue
        else:
            continue
        path = route.path
        params = tuple(m.group("variable") for m in _STARLETTE_VAR.finditer(path))
        extra = getattr(route, "openapi_extra", None)
        tag = extra.get(SCAFFOLD_TAG) if isinstance(extra, Mapping) else None
        name = str(route.name or path)
        found.append(Endpoint(name, path, tuple(sorted(methods)), params, _tag(tag)))
    return found


def _tag(value: object) -> str | None:
    return str(value) if value else None


def compare(legacy: Endpoint, new: Endpoint) -> list[str]:
    """What ``new`` does differently from ``legacy`` (empty when they agree)."""
    problems = []
    if new.scaffold:
        problems.append(
            f"scaffold: the new route is the scaffold's {new.scaffold}, not ported yet "
            f'(remove openapi_extra {{"{SCAFFOLD_TAG}": ...}} once it is)'
        )
    if new.name != legacy.name:
        problems.append(f"name: new route is named {new.name!r}, Flask endpoint is {legacy.name!r}")
    if new.shape != legacy.shape:
        problems.append(f"path: new {new.path!r} does not have the shape of {legacy.path!r}")
    missing = sorted(set(legacy.methods) - set(new.methods))
    extra = sorted(set(new.methods) - set(legacy.methods))
    if missing:
        problems.append(f"methods: new route lacks {', '.join(missing)}")
    if extra:
        problems.append(f"methods: new route also answers {', '.join(extra)}")
    if new.params != legacy.params:
        problems.append(
            f"params: new path parameters {list(new.params)}, Flask's {list(legacy.params)}"
        )
    return problems


def _counterpart(
    legacy: Endpoint, new: list[Endpoint], legacy_names: frozenset[str]
) -> Endpoint | None:
    """The new route meant to replace ``legacy``: same name (same shape preferred),
    else one answering the same path shape under a name no legacy endpoint has
    (a route named after another endpoint is that endpoint's port)."""
    named = [e for e in new if e.name == legacy.name]
    for candidate in named:
        if candidate.shape == legacy.shape:
            return candidate
    if named:
        return named[0]
    return next((e for e in new if e.shape == legacy.shape and e.name not in legacy_names), None)


def shadow_counts(stats: Mapping[str, Any] | None) -> dict[str, tuple[int, int]]:
    """Per route (matched, mismatched) from the shadow stats, tolerating both shapes:
    ``{"matched": {route: n}, "mismatched": {route: n}}`` and
    ``{"by_route": {route: {"matched": n, "mismatched": n}}}``."""
    if not isinstance(stats, Mapping):
        return {}
    counts: dict[str, tuple[int, int]] = {}
    by_route = stats.get("by_route")
    if isinstance(by_route, Mapping):
        for route, value in by_route.items():
            if isinstance(value, Mapping):
                counts[str(route)] = (
                    _int(value.get("matched")),
                    _int(value.get("mismatched")),
                )
    matched, mismatched = stats.get("matched"), stats.get("mismatched")
    if isinstance(matched, Mapping) or isinstance(mismatched, Mapping):
        matched = matched if isinstance(matched, Mapping) else {}
        mismatched = mismatched if isinstance(mismatched, Mapping) else {}
        for route in {*matched, *mismatched}:
            counts.setdefault(str(route), (_int(matched.get(route)), _int(mismatched.get(route))))
    return counts


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def build_report(
    legacy_rules: Iterable[Rule],
    new_routes: Iterable[BaseRoute],
    flags: FlagTable,
    groups: Groups,
    shadow_stats: Mapping[str, Any] | None = None,
) -> StatusReport:
    """The status of every legacy rule (sorted by rule, then endpoint)."""
    new = new_endpoints(new_routes)
    shadow = shadow_counts(shadow_stats)
    rules = sorted(legacy_rules, key=lambda r: (r.rule, str(r.endpoint)))
    legacy_names = frozenset(str(rule.endpoint) for rule in rules)
    rows = []
    claimed: set[Endpoint] = set()
    for rule in rules:
        legacy = legacy_endpoint(rule)
        counterpart = _counterpart(legacy, new, legacy_names)
        problems = compare(legacy, counterpart) if counterpart else []
        if counterpart is not None:
            claimed.add(counterpart)
        state: State = (
            "missing" if counterpart is None else "disagrees" if problems else "implemented"
        )
        matched, mismatched = shadow.get(legacy.name, (0, 0))
        rows.append(
            StatusRow(
                endpoint=legacy.name,
                rule=legacy.path,
                methods=legacy.methods,
                params=legacy.params,
                state=state,
                disagreements=tuple(problems),
                new=counterpart,
                flag=str(flags.flag_for(groups.key_for(legacy.name))),
                group=groups.group_of.get(legacy.name),
                shadow_matched=matched,
                shadow_mismatched=mismatched,
            )
        )
    new_only = tuple(e for e in new if e not in claimed and e.name not in legacy_names)
    return StatusReport(tuple(rows), new_only)
