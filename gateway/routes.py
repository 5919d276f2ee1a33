"""The route table: which app may answer a path, decided once per request.

Legacy paths are matched by Werkzeug itself, on a private copy of the legacy
app's ``url_map`` compiled once, so the gateway agrees with Flask on
converters, trailing-slash redirects, merged slashes, 405 and the automatic
HEAD/OPTIONS methods. Paths no legacy rule knows but the new app routes go to
the new app; everything else gets the legacy app's own 404.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote

from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule, ValidationError

Target = Literal["flag", "legacy", "new"]
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
# The match cache holds at most this many answers, for paths up to this long,
# so a flood of unique or huge paths cannot grow memory without bound.
_CACHE_ENTRIES = 4096
_CACHE_MAX_PATH = 256


class RouteTableError(Exception):
    """The apps cannot be put in one route table (e.g. host matching is on)."""


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The outcome of matching one request.

    ``target`` is "flag" when a legacy rule matched and the route's flag
    decides; "legacy" or "new" when only that side can answer. ``endpoint`` is
    the route identity (legacy endpoint or new route name), None for 404s.
    """

    target: Target
    endpoint: str | None
    reason: str


LEGACY_NOT_FOUND = RouteMatch("legacy", None, "not_found")
LEGACY_REDIRECT = RouteMatch("legacy", None, "redirect")
LEGACY_METHOD_NOT_ALLOWED = RouteMatch("legacy", None, "method_not_allowed")
LEGACY_OTHER = RouteMatch("legacy", None, "legacy_error")


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One printable row of the table."""

    rule: str
    methods: tuple[str, ...]
    endpoint: str
    origin: Literal["legacy", "new"]
    new_methods: tuple[str, ...]

    @property
    def implemented(self) -> bool:
        """True if the new app serves this path for every non-automatic method."""
        wanted = set(self.methods) - AUTOMATIC_METHODS or set(self.methods)
        return bool(self.new_methods) and wanted <= set(self.new_methods)


# Strings tried, in order, to make a sample URL for a rule's variable parts.
_CANDIDATES = (
    "1",
    "1.5",
    "x",
    str(uuid.UUID(int=1)),
    "a/b",
    "0",
    "-1",
    "-1.5",
    "1.0",
    *("x" * n for n in range(2, 65)),
)


def _sample_part(regex_match: Any, to_python: Any) -> Any:
    for candidate in _CANDIDATES:
        if regex_match(candidate):
            try:
                return to_python(candidate)
            except (ValidationError, ValueError, TypeError):
                continue
    return None


def legacy_sample_path(rule: Rule) -> str | None:
    """A concrete, decoded path this rule matches (None if none could be made)."""
    values: dict[str, Any] = {}
    for name, converter in rule._converters.items():
        pattern = re.compile(converter.regex)
        if hasattr(converter, "items"):  # AnyConverter: pick a listed item
            values[name] = sorted(converter.items)[0]
            continue
        value = _sample_part(pattern.fullmatch, converter.to_python)
        if value is None:
            return None
        values[name] = value
    built = rule.build(values, append_unknown=False)
    return unquote(built[1]) if built else None


def new_sample_path(route: BaseRoute) -> str | None:
    """A concrete path a Starlette Route, WebSocketRoute or Mount matches."""
    if isinstance(route, Mount):
        return route.path.rstrip("/") + "/x"
    fmt = getattr(route, "path_format", None)
    if fmt is None:
        return None
    path = fmt
    for name, convertor in getattr(route, "param_convertors", {}).items():
        pattern = re.compile(convertor.regex)
        part = next((c for c in _CANDIDATES if pattern.fullmatch(c)), None)
        if part is None:
            return None
        path = path.replace("{" + name + "}", part)
    return path


def app_routes(app: object) -> list[BaseRoute]:
    """The routes of an ASGI app, flattened to plain Starlette routes with full paths.

    Looks through middleware wrappers (``.app``) and FastAPI's included
    routers, so a route table can match and list every path the app serves.
    """
    for _ in range(20):
        routes = getattr(app, "routes", None)
        if isinstance(routes, Sequence):
            return flatten_routes(routes)
        router = getattr(app, "router", None)
        if router is not None and isinstance(getattr(router, "routes", None), Sequence):
            return flatten_routes(router.routes)
        app = getattr(app, "app", None)
        if app is None:
            break
    return []


def flatten_routes(routes: Iterable[Any]) -> list[BaseRoute]:
    """Expand FastAPI included routers (``effective_candidates``) into routes."""
    flat: list[BaseRoute] = []
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            for candidate in candidates():
                if callable(getattr(candidate, "effective_candidates", None)):
                    flat.extend(flatten_routes([candidate]))
                elif (plain := _from_context(candidate)) is not None:
                    flat.append(plain)
        elif isinstance(route, BaseRoute):
            flat.append(route)
    return flat


def _from_context(context: Any) -> BaseRoute | None:
    built = getattr(context, "starlette_route", None)
    if isinstance(built, BaseRoute):
        return built
    original = getattr(context, "original_route", None)
    path = getattr(context, "path", None) or getattr(original, "path", None)
    if original is None or not path:
        return None
    name = getattr(original, "name", None)
    if isinstance(original, WebSocketRoute) or "WebSocket" in type(original).__name__:
        return WebSocketRoute(path, _never_called, name=name)
    route = Route(path, _never_called, methods=list(original.methods or ()), name=name)
    route.methods = set(original.methods or ())  # exactly the app's methods, no added HEAD
    # Kept for parity reports: the scaffold tags routes not ported yet here.
    route.openapi_extra = getattr(original, "openapi_extra", None)  # type: ignore[attr-defined]
    return route


async def _never_called(*args: Any) -> None:  # pragma: no cover - matching only
    raise RuntimeError("route table entries are never called")


class RouteTable:
    """Compiled once from the legacy ``url_map`` and the new app's routes."""

    def __init__(self, legacy_map: Map | None, new_routes: Iterable[BaseRoute] = ()) -> None:
        if legacy_map is not None and legacy_map.host_matching:
            raise RouteTableError("legacy url_map uses host_matching; the gateway does not")
        # Without a legacy url_map no rule is known: nothing can be flipped.
        self.knows_legacy = legacy_map is not None
        self._map = _copy_map(legacy_map) if legacy_map is not None else Map([])
        self._map.update()
        self._adapter = self._map.bind("localhost", script_name="/", url_scheme="http")
        self._new_routes = tuple(
            r for r in new_routes if isinstance(r, Route | Mount | WebSocketRoute)
        )
        self._flagged: dict[str, RouteMatch] = {}
        self._legacy_rows: list[RouteInfo] = []
        self._new_only_rows: list[RouteInfo] = []
        self._new_only: dict[str, RouteMatch] = {}
        # Matching is a pure function of its arguments, and Werkzeug's matcher
        # costs ~8 us a call: remember recent answers (bounded, short paths only).
        self._cached_match = lru_cache(maxsize=_CACHE_ENTRIES)(self._match)
        self._build_rows()

    # --- request path -------------------------------------------------
    def match(self, path: str, method: str, websocket: bool = False) -> RouteMatch:
        """Decide who may answer ``method path`` (path decoded, without root_path).

        Never raises for any input: junk paths end as the legacy 404.
        """
        if len(path) <= _CACHE_MAX_PATH:
            return self._cached_match(path, method, websocket)
        return self._match(path, method, websocket)

    def _match(self, path: str, method: str, websocket: bool) -> RouteMatch:
        if websocket:
            name = self._match_new(path, method, websocket=True)
            return self._new_only_match(name) if name is not None else LEGACY_NOT_FOUND
        try:
            rule, _ = self._adapter.match(path, method, return_rule=True)
        except RequestRedirect:
            return LEGACY_REDIRECT
        except MethodNotAllowed:
            name = self._match_new(path, method, full_only=True)
            return self._new_only_match(name) if name else LEGACY_METHOD_NOT_ALLOWED
        except NotFound:
            name = self._match_new(path, method)
            return self._new_only_match(name) if name else LEGACY_NOT_FOUND
        except HTTPException:
            return LEGACY_OTHER
        return self._flagged[rule.endpoint]

    def _new_only_match(self, name: str) -> RouteMatch:
        found = self._new_only.get(name)
        if found is None:
            found = self._new_only.setdefault(name, RouteMatch("new", name, "new_only"))
        return found

    def _match_new(
        self, path: str, method: str, websocket: bool = False, full_only: bool = False
    ) -> str | None:
        scope = {
            "type": "websocket" if websocket else "http",
            "path": path,
            "root_path": "",
            "method": method,
            "headers": [],
        }
        partial: str | None = None
        for route in self._new_routes:
            try:
                result, _ = route.matches(scope)
            except Exception:  # a convertor choking on junk must not fail the request
                continue
            if result is Match.FULL:
                return _route_name(route)
            if result is Match.PARTIAL and partial is None and not full_only:
                partial = _route_name(route)
        return partial

    # --- table --------------------------------------------------------
    @property
    def legacy_endpoints(self) -> frozenset[str]:
        return frozenset(self._flagged)

    @property
    def legacy_rules(self) -> tuple[Rule, ...]:
        """The legacy rules as compiled here (for parity reports)."""
        return tuple(self._map.iter_rules())

    @property
    def new_routes(self) -> tuple[BaseRoute, ...]:
        """The new app's routes, flattened, that this table matches against."""
        return self._new_routes

    def rows(self) -> list[RouteInfo]:
        """Every legacy rule, then every new-only route, in a stable order."""
        return [*self._legacy_rows, *self._new_only_rows]

    def _build_rows(self) -> None:
        for rule in sorted(self._map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            endpoint = str(rule.endpoint)
            self._flagged.setdefault(endpoint, RouteMatch("flag", endpoint, "rule"))
            methods = tuple(sorted(rule.methods or ()))
            sample = legacy_sample_path(rule)
            new_methods = tuple(
                m
                for m in methods
                if sample is not None and self._match_new(sample, m, full_only=True)
            )
            self._legacy_rows.append(RouteInfo(rule.rule, methods, endpoint, "legacy", new_methods))
        # New routes are listed when no legacy rule claims their path: those
        # the legacy app also has show up in the legacy rows as implemented.
        for route in self._new_routes:
            sample = new_sample_path(route)
            if sample is None:
                continue
            if isinstance(route, WebSocketRoute):
                methods: tuple[str, ...] = ("WEBSOCKET",)
                new_only = self.match(sample, "GET", websocket=True).target == "new"
            else:
                methods = tuple(sorted(getattr(route, "methods", None) or ("*",)))
                probe = [m for m in methods if m != "*"] or ["GET"]
                new_only = all(self.match(sample, m).target == "new" for m in probe)
            if new_only:
                rule = getattr(route, "path", sample)
                row = RouteInfo(rule, methods, _route_name(route), "new", methods)
                self._new_only_rows.append(row)


def _route_name(route: BaseRoute) -> str:
    name = getattr(route, "name", None)
    return str(name) if name else getattr(route, "path", "?")


def _copy_map(source: Map) -> Map:
    """A private Map with the same rules and options, so matching state is ours."""
    return Map(
        [rule.empty() for rule in source.iter_rules()],
        default_subdomain=source.default_subdomain,
        strict_slashes=source.strict_slashes,
        merge_slashes=source.merge_slashes,
        redirect_defaults=source.redirect_defaults,
        converters=source.converters,
        sort_parameters=source.sort_parameters,
        sort_key=source.sort_key,
        host_matching=source.host_matching,
    )
