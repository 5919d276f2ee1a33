"""Render the Flask app's templates from FastAPI, byte for byte as Flask renders them.

The environment is an overlay of the Flask app's own ``jinja_env``: the same
loader (app folder first, then blueprints in registration order), autoescape
rule, ``jinja_options`` (extensions, trim_blocks...), filters, tests, globals
and JSON policy; only ``url_for`` and ``get_flashed_messages`` are replaced
by request-aware ones. A render runs inside Flask's app and request contexts
for the FastAPI request (see ``RequestState.flask_context``), so the Flask
app's context processors and template globals (Flask-WTF's ``csrf_token``,
Flask-Login's ``current_user``) run as they do in Flask.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask.signals import before_render_template, template_rendered
from jinja2 import Environment, Template
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse
from werkzeug.local import LocalProxy

from flask_compat.errors import ContextProcessorError
from flask_compat.session import get_flashed_messages as request_flashed_messages
from flask_compat.session import scope_session
from flask_compat.state import RequestState, current_state, state_for
from flask_compat.urls import template_url_for


def _template_flashed_messages(
    with_categories: bool = False, category_filter: Iterable[str] = ()
) -> list[Any]:
    """Flask's ``get_flashed_messages`` global, on the current request's session."""
    return request_flashed_messages(current_state().request, with_categories, category_filter)


def compat_environment(flask_app: Flask) -> Environment:
    """An overlay of ``flask_app.jinja_env`` whose ``url_for`` and ``get_flashed_messages``
    serve FastAPI requests. Filters, tests and globals stay live: one registered on the
    Flask app later is seen here too."""
    # A cache of its own: an overlay copies the Flask env's cache, whose templates would
    # keep Flask's globals (its url_for) if Flask rendered them before.
    env = flask_app.jinja_env.overlay(cache_size=flask_app.jinja_options.get("cache_size", 400))
    overrides = {
        "url_for": template_url_for,
        "get_flashed_messages": _template_flashed_messages,
    }
    # A ChainMap, not a copy: globals the Flask app adds later show through.
    env.globals = ChainMap(overrides, flask_app.jinja_env.globals)  # type: ignore[assignment]
    return env


class TemplateResponse(HTMLResponse):
    """The HTML of a rendered template, with the ``template`` and ``context`` it came from
    (for tests). Change ``status_code`` or ``headers`` on it as a Flask view returns
    ``(html, 400)``."""

    def __init__(
        self,
        content: str,
        template: Template,
        context: dict[str, Any],
        status_code: int = 200,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, background=background)
        self.template = template
        self.context = context


def update_template_context(state: RequestState, context: dict[str, Any]) -> None:
    """Flask's ``update_template_context`` for a FastAPI request: the app's context
    processors, then its blueprint's (outermost first), then ``session``; the view's own
    values win over all of them.

    Must run inside ``state.flask_context()``. Raises ``ContextProcessorError`` naming
    the processor that failed.
    """
    flask_app = state.compat.flask_app
    own = context.copy()
    request = state.flask_request_context().request
    names: list[str | None] = [None, *reversed(request.blueprints)]
    processors = flask_app.template_context_processors
    for name in names:
        for processor in processors.get(name, ()):
            try:
                context.update(flask_app.ensure_sync(processor)())
            except Exception as error:
                raise ContextProcessorError(
                    f"context processor {getattr(processor, '__qualname__', processor)!r} of "
                    f"the Flask app failed under FastAPI ({type(error).__name__}: {error}). "
                    "Flask's before_request functions do not run for FastAPI requests: set "
                    "what it needs on flask_compat.g in a dependency, or pass the value "
                    "to render_template yourself"
                ) from error
    # Like Flask's session global (a proxy): reading it marks the session accessed.
    scope = state.scope
    context.setdefault("session", LocalProxy(lambda: scope_session(scope)))
    context.update(own)


def render(state: RequestState, template: Template, context: dict[str, Any]) -> str:
    """Render ``template`` for the request of ``state``: Flask's ``_render`` (context
    processors, ``before_render_template`` and ``template_rendered`` signals)."""
    flask_app = state.compat.flask_app
    with state.current(), state.flask_context():
        update_template_context(state, context)
        before_render_template.send(
            flask_app, _async_wrapper=flask_app.ensure_sync, template=template, context=context
        )
        html = template.render(context)
        template_rendered.send(
            flask_app, _async_wrapper=flask_app.ensure_sync, template=template, context=context
        )
    return html


def render_template(
    request: Request,
    template_name_or_list: str | Template | list[str | Template],
    /,
    **context: Any,
) -> TemplateResponse:
    """Flask's ``render_template`` for a FastAPI view: ``render_template(request,
    "blog/index.html", posts=posts)`` returns the HTML response Flask's view would send.

    A list of names renders the first that exists. Raises
    ``jinja2.TemplateNotFound``, ``ContextProcessorError`` if a Flask context
    processor fails, ``NotInstalled`` if ``request.app`` had no
    ``FlaskCompat.install()``.
    """
    state = state_for(request)
    template = state.compat.jinja_env.get_or_select_template(template_name_or_list)
    return TemplateResponse(render(state, template, context), template, context)


def render_template_string(request: Request, source: str, /, **context: Any) -> TemplateResponse:
    """Flask's ``render_template_string`` for a FastAPI view (autoescaped, as in Flask).

    Raises as ``render_template`` does (``jinja2.TemplateSyntaxError`` for bad source).
    """
    state = state_for(request)
    template = state.compat.jinja_env.from_string(source)
    return TemplateResponse(render(state, template, context), template, context)
