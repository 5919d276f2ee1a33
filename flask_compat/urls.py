"""``url_for`` as Flask's: the FastAPI app's routes first, then the Flask ``url_map``.

The FastAPI app's routes are turned into a Werkzeug ``Map`` (routing as
data), so a URL is built by the very code that builds Flask's: the same
percent-encoding, the same query string for unknown values, ``_method``,
``_external``/``_scheme`` and the root path in front. A route named after a
Flask endpoint (``name="blog.index"``) wins; any endpoint the FastAPI app
does not have (a page still on legacy) is built from the Flask app's own
``url_map``, bound as Flask binds it for the request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi.routing import iter_route_contexts
from flask import Flask
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.routing import Host, Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from werkzeug.routing import BaseConverter, BuildError, Map, MapAdapter, Rule

from flask_compat.context import bind_map, scope_root_path
from flask_compat.errors import UrlBuildError
from flask_compat.state import RequestState, current_state, state_for

if TYPE_CHECKING:
    from starlette.applications import Starlette

# Werkzeug's own percent-encoding of path values (BaseConverter.to_url) and of anchors.
_PATH_SAFE = "!$&'()*+,/:;=@"
_ANCHOR_SAFE = "%!#$&'()*+,/:;=?@"
_PARAM = re.compile(r"{(\w+)}")
# Mounted sub-apps nest rarely more than twice; deeper trees are not walked.
_MAX_MOUNT_DEPTH = 8


class StarletteConverter(BaseConverter):
    """A Starlette path convertor seen as a Werkzeug converter (its regex and to_string),
    so URLs for the FastAPI routes are built the way those routes match them."""

    convertor: Convertor[Any]

    def to_python(self, value: str) -> Any:
        return self.convertor.convert(value)

    def to_url(self, value: Any) -> str:
        try:
            text = self.convertor.to_string(value)
        except AssertionError:
            # Starlette refuses "/" in a str part and negative ints; Flask builds such a
            # URL anyway (it just does not route back), so the page renders the same.
            text = str(value)
        return quote(text, safe=_PATH_SAFE)


class PortedRule(Rule):
    """A Werkzeug rule made from a FastAPI route; ``source_path`` is the route's own path
    (``/post/{id:int}``), for messages."""

    def __init__(self, string: str, *, source_path: str, **kwargs: Any) -> None:
        super().__init__(string, **kwargs)
        self.source_path = source_path


def _converter_class(convertor: Convertor[Any]) -> type[StarletteConverter]:
    # Declaring regex in the class body lets Werkzeug set part_isolating from it.
    return type(
        f"{type(convertor).__name__}Converter",
        (StarletteConverter,),
        {"convertor": convertor, "regex": convertor.regex},
    )


def _route_contexts(routes: Iterable[Any]) -> Iterator[Any]:
    # FastAPI 0.16x keeps included routers lazy: walk them with its own iterator
    # (it yields plain Starlette routes unchanged).
    yield from iter_route_contexts(list(routes))


def _original(route: Any) -> Any:
    return getattr(route, "original_route", route)


# Convertors met while walking the routes: id -> (converter name in the Map, convertor).
_Registry = dict[int, tuple[str, Convertor[Any]]]


def _rules(
    routes: Iterable[Any], registry: _Registry, prefix: str, name_prefix: str, depth: int
) -> Iterator[PortedRule]:
    """A rule for every named route under ``routes``."""
    for route in _route_contexts(routes):
        original = _original(route)
        name, path = getattr(route, "name", None), getattr(route, "path", None)
        if not name or path is None or isinstance(original, Host):
            continue  # unnamed routes cannot be built; hosts are not Flask routes
        if isinstance(original, Mount):
            sub_routes = getattr(original, "routes", None) or []
            if sub_routes and depth < _MAX_MOUNT_DEPTH:
                yield from _rules(
                    sub_routes, registry, prefix + path, f"{name_prefix}{name}:", depth + 1
                )
            # A static folder takes Flask's `filename=`; any other mount Starlette's `path=`.
            param = "filename" if isinstance(original.app, StaticFiles) else "path"
            yield PortedRule(
                f"{prefix}{path}/<path:{param}>",
                endpoint=f"{name_prefix}{name}",
                source_path=f"{prefix}{path}/{{{param}:path}}",
            )
            continue
        path_format = getattr(route, "path_format", None)
        if not path_format or "<" in path_format or ">" in path_format:
            continue  # Werkzeug's rule syntax has no escape for < and >
        convertors: Mapping[str, Convertor[Any]] = getattr(route, "param_convertors", {}) or {}
        methods = getattr(route, "methods", None)
        websocket = isinstance(original, WebSocketRoute)
        yield PortedRule(
            _werkzeug_rule(prefix + path_format, convertors, registry),
            endpoint=f"{name_prefix}{name}",
            methods=methods or None,
            websocket=websocket,
            source_path=prefix + path,
        )


def _werkzeug_rule(
    path_format: str, convertors: Mapping[str, Convertor[Any]], registry: _Registry
) -> str:
    """ "/post/{id}" with an int convertor -> "/post/<sc0:id>" (sc0 registered for it)."""

    def part(match: re.Match[str]) -> str:
        convertor = convertors[match[1]]
        converter, _ = registry.setdefault(id(convertor), (f"sc{len(registry)}", convertor))
        return f"<{converter}:{match[1]}>"

    return _PARAM.sub(part, path_format)


def routes_map(app: Starlette) -> Map:
    """The routes of ``app`` (included routers and mounts too) as a Werkzeug ``Map``.

    Endpoints are the route names (``mount:route`` inside named mounts, as in
    Starlette); routes without a name are left out.
    """
    registry: _Registry = {}
    rules = list(_rules(app.routes, registry, "", "", 0))
    converters = {name: _converter_class(convertor) for name, convertor in registry.values()}
    # Converters first: a Map resolves them when a rule is added.
    url_map = Map(converters=converters, strict_slashes=False)
    for rule in rules:
        url_map.add(rule)
    return url_map


def routes_version(app: Starlette) -> tuple[int, int]:
    """Changes when routes are added to ``app`` (or to a router it included)."""
    router = app.router
    # FastAPI's included routers are lazy: a router filled after include_router changes
    # no list we can see, but FastAPI's own (private) counter does; use it when present.
    version = getattr(router, "_get_routes_version", None)
    return len(router.routes), version() if callable(version) else 0


class NewAppRoutes:
    """The FastAPI app's routes as a Werkzeug ``Map``, rebuilt when routes are added."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._map: Map | None = None
        self._version: tuple[int, int] | None = None

    def map(self) -> Map:
        """The current map (built on first use, rebuilt after routes were added)."""
        version = routes_version(self.app)
        if self._map is None or version != self._version:
            with self._lock:
                if self._map is None or version != self._version:
                    self._map = routes_map(self.app)
                    self._version = version
        return self._map

    def bind(self, environ: dict[str, Any], flask_app: Flask) -> MapAdapter:
        """The map bound to a request's environ, as Flask binds its own ``url_map``
        (``SERVER_NAME`` from the Flask config, default subdomain)."""
        return bind_map(self.map(), environ, flask_app.config.get("SERVER_NAME"))

    def has_endpoint(self, endpoint: str) -> bool:
        """True if a route of the FastAPI app is named ``endpoint``."""
        return _has_endpoint(self.map(), endpoint)

    def first_rule(self, endpoint: str) -> Rule | None:
        """The first rule named ``endpoint`` (None if there is none)."""
        try:
            return next(self.map().iter_rules(endpoint), None)
        except KeyError:
            return None


def _has_endpoint(url_map: Map, endpoint: str) -> bool:
    try:
        next(url_map.iter_rules(endpoint))
    except (KeyError, StopIteration):
        return False
    return True


def _describe(url_map: Map, endpoint: str) -> str:
    paths = {getattr(rule, "source_path", rule.rule) for rule in url_map.iter_rules(endpoint)}
    return ", ".join(sorted(paths))


def build_url(state: RequestState, endpoint: str, values: dict[str, Any]) -> str:
    """Flask's ``url_for(endpoint, **values)`` for the request of ``state``.

    Raises ``UrlBuildError`` (a ``werkzeug.routing.BuildError``) when neither
    the FastAPI app nor the Flask app can build it, and ``ValueError`` for
    ``_scheme`` without ``_external``, as Flask does.
    """
    compat = state.compat
    flask_app = compat.flask_app
    anchor = values.pop("_anchor", None)
    method = values.pop("_method", None)
    scheme = values.pop("_scheme", None)
    external = values.pop("_external", None)
    if endpoint[:1] == ".":
        blueprint = state.blueprint
        endpoint = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
    # In a request, Flask builds relative URLs unless told otherwise.
    if external is None:
        external = scheme is not None
    if scheme is not None and not external:
        raise ValueError("When specifying '_scheme', '_external' must be True.")
    if flask_app.url_default_functions:
        # url_defaults functions often read flask.g: run them in the Flask context.
        with state.flask_context():
            flask_app.inject_url_defaults(endpoint, values)
    name = compat.endpoint_names.get(endpoint, endpoint)
    try:
        url = state.new_url_adapter().build(
            name, values, method=method, url_scheme=scheme, force_external=external
        )
    except BuildError as new_error:
        url = _build_legacy(state, endpoint, name, values, method, scheme, external, new_error)
    if anchor is not None:
        url = f"{url}#{quote(anchor, safe=_ANCHOR_SAFE)}"
    return url


def _build_legacy(
    state: RequestState,
    endpoint: str,
    name: str,
    values: dict[str, Any],
    method: str | None,
    scheme: str | None,
    external: bool,
    new_error: BuildError,
) -> str:
    routes = state.compat.routes
    known = routes.has_endpoint(name)
    new_reason = (
        f"the FastAPI route {name!r} ({_describe(routes.map(), name)}) does not fit these values"
        if known
        else f"the FastAPI app has no route named {name!r}"
    )
    flask_app = state.compat.flask_app
    adapter = state.legacy_url_adapter()
    if not _has_endpoint(flask_app.url_map, endpoint):
        legacy_reason = f"the Flask app's url_map has no endpoint {endpoint!r}"
    else:
        known = True
        try:
            return adapter.build(
                endpoint, values, method=method, url_scheme=scheme, force_external=external
            )
        except BuildError:
            legacy_reason = (
                f"the Flask rule for {endpoint!r} ({_describe(flask_app.url_map, endpoint)}) "
                "does not fit these values"
            )
    error = UrlBuildError(
        endpoint, values, method, new_reason=new_reason, legacy_reason=legacy_reason, known=known
    )
    # Flask's url_build_error_handlers get their say, as in Flask's url_for.
    for handler in flask_app.url_build_error_handlers:
        try:
            result = handler(error, endpoint, values)
        except BuildError:
            continue
        if result is not None:
            return str(result)
    raise error from new_error


def url_for(request: Request, endpoint: str, /, **values: Any) -> str:
    """Flask's ``url_for`` from FastAPI code: ``url_for(request, "blog.show", id=3)``.

    Builds the FastAPI route named ``endpoint`` if there is one, else the
    Flask app's endpoint; relative URL with the root path in front unless
    ``_external=True``; ``filename=`` for static folders; ``_anchor``,
    ``_scheme``, ``_method``; values no rule takes become the query string.
    Raises ``UrlBuildError`` if neither app can build it, ``NotInstalled`` if
    ``request.app`` had no ``FlaskCompat.install()``.
    """
    return build_url(state_for(request), endpoint, dict(values))


def template_url_for(endpoint: str, /, **values: Any) -> str:
    """The ``url_for`` templates rendered through flask_compat call (current request)."""
    return build_url(current_state(), endpoint, dict(values))


def root_path(request: Request) -> str:
    """The application's root path (what Flask calls ``SCRIPT_NAME``), also inside a mount."""
    return scope_root_path(request.scope)
