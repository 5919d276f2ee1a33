"""Render legacy_flask's templates unchanged under FastAPI.

What a Flask template expects, and what this module provides:

- ``url_for('static', filename=...)`` and ``url_for('blueprint.endpoint', **values)``
  give the same *relative* URL as Flask (Starlette's gives absolute URLs), with
  the root path in front, unknown values as the query string, ``_external``
  and ``_anchor`` as in Flask. FastAPI routes are named after the Flask
  endpoints (``name="webapp.index"``); ``endpoint_names`` maps any others.
- ``session`` is ``request.session``; ``get_flashed_messages()`` and
  ``csrf_token()`` behave as in Flask.
- The Jinja environment loads the same folders in the same order as Flask
  (app ``templates/`` first, then each blueprint's) with Flask's autoescape,
  and the same filters (``legacy_flask.filters.register_filters``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask
from starlette.responses import Response

from legacy_flask.filters import register_filters
from new_fastapi.csrf import csrf_token
from shared_session import get_flashed_messages as pop_flashed_messages

# Flask escapes these extensions (flask.Flask.select_jinja_autoescape).
FLASK_AUTOESCAPE = ("html", "htm", "xml", "xhtml", "svg")


def app_root_path(request: Request) -> str:
    """The application's root path, also inside a mount (which moves ``root_path``)."""
    return request.scope.get("app_root_path", request.scope.get("root_path", ""))


def route_param_table(app: FastAPI) -> dict[str, frozenset[str]]:
    """Route name -> its path parameter names, for every route (included routers, mounts)."""
    table: dict[str, frozenset[str]] = {}
    for route in iter_route_contexts(app.routes):
        if route.name is not None:
            table.setdefault(route.name, frozenset(getattr(route, "param_convertors", {})))
    return table


def route_param_names(app: FastAPI, name: str) -> frozenset[str]:
    """The path parameters of the route called ``name`` (empty if unknown)."""
    table: dict[str, frozenset[str]] | None = getattr(app.state, "route_params", None)
    if table is None or name not in table:
        # Built on first use, rebuilt when a route was added since.
        table = app.state.route_params = route_param_table(app)
    return table.get(name, frozenset())


def flask_url_for(request: Request, endpoint: str, /, **values: Any) -> str:
    """Flask's ``url_for`` for a Starlette app: relative by default, like Flask.

    ``endpoint`` is a route name; ``app.state.endpoint_names`` (optional) maps
    Flask endpoint names to route names that differ. Raises
    ``starlette.routing.NoMatchFound`` for an unknown endpoint, as Flask
    raises ``BuildError``.
    """
    external = bool(values.pop("_external", False))
    anchor = values.pop("_anchor", None)
    scheme = values.pop("_scheme", None)
    values.pop("_method", None)
    endpoint_names: Mapping[str, str] = getattr(request.app.state, "endpoint_names", {})
    name = endpoint_names.get(endpoint, endpoint)
    if endpoint == "static" and "filename" in values:
        values["path"] = values.pop("filename")
    param_names = route_param_names(request.app, name)
    path_params = {key: value for key, value in values.items() if key in param_names}
    query = [
        (key, value)
        for key, value in values.items()
        if key not in param_names and value is not None
    ]
    url = app_root_path(request) + request.app.url_path_for(name, **path_params)
    if query:
        url += "?" + urlencode(query, doseq=True)
    if anchor is not None:
        url += f"#{anchor}"
    if external:
        base = request.base_url
        url = f"{scheme or base.scheme}://{base.netloc}{url}"
    return url


@jinja2.pass_context
def _url_for(context: jinja2.runtime.Context, endpoint: str, /, **values: Any) -> str:
    return flask_url_for(context["request"], endpoint, **values)


@jinja2.pass_context
def _get_flashed_messages(
    context: jinja2.runtime.Context,
    with_categories: bool = False,
    category_filter: Iterable[str] = (),
) -> list[Any]:
    request: Request = context["request"]
    return pop_flashed_messages(request.session, with_categories, category_filter)


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    return csrf_token(context["request"].session)


def flask_context(request: Request) -> dict[str, Any]:
    """Per-request template variables Flask injects: ``session``."""
    return {"session": request.session}


def flask_environment(template_folders: Iterable[Path]) -> jinja2.Environment:
    """A Jinja environment that behaves like a Flask app's ``jinja_env``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in template_folders]),
        autoescape=jinja2.select_autoescape(FLASK_AUTOESCAPE),
    )
    register_filters(env)
    env.globals.update(
        url_for=_url_for,
        get_flashed_messages=_get_flashed_messages,
        csrf_token=_csrf_token,
    )
    return env


def flask_templates(template_folders: Iterable[Path]) -> Jinja2Templates:
    """``Jinja2Templates`` over Flask template folders, with the compatibility globals."""
    return Jinja2Templates(
        env=flask_environment(template_folders), context_processors=[flask_context]
    )


def render_template(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """Flask's ``render_template`` as a response: ``request.app.state.templates`` renders it."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        name,
        dict(context or {}),
        status_code=status_code,
        headers=headers,
        background=background,
    )
