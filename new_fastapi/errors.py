"""Error pages (HTML) and API errors (JSON), identical to legacy_flask's."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from flask_compat import render_template, root_path, url_for
from notes_core.errors import error_payload, error_template

API_PREFIX = "/api/"
log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """Raised by ``requires_auth``: a redirect to /login, or 401 JSON on the API."""


def is_api_request(request: Request) -> bool:
    """True for paths under /api/ (below the root path), which get JSON errors."""
    path = request.url.path.removeprefix(root_path(request))
    return path.startswith(API_PREFIX)


def error_response(
    request: Request, status: int, detail: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The JSON error (API) or the error page for ``status``."""
    if is_api_request(request):
        return JSONResponse(error_payload(status, detail), status, headers=headers)
    http_status = HTTPStatus(status)
    context = {
        "status": status,
        "title": http_status.phrase,
        "detail": detail or http_status.description,
    }
    response = render_template(request, error_template(status), **context)
    response.status_code = status
    response.headers.update(headers or {})
    return response


async def handle_http_error(request: Request, error: Exception) -> Response:
    """Any HTTPException (404, 405, 413, our own 400s...)."""
    assert isinstance(error, HTTPException)
    # Starlette's default detail is the status phrase; like on the Flask side,
    # only our own messages are shown, the rest come from http.HTTPStatus.
    detail = error.detail if error.detail != HTTPStatus(error.status_code).phrase else None
    allow = {k: v for k, v in (error.headers or {}).items() if k.lower() == "allow"}
    return error_response(request, error.status_code, detail, allow or None)


async def handle_login_required(request: Request, error: Exception) -> Response:
    """Anonymous user on a protected route."""
    if is_api_request(request):
        return error_response(request, 401, "Log in first: this endpoint needs a session.")
    return RedirectResponse(url_for(request, "auth.login"), 302)


async def handle_unexpected_error(request: Request, error: Exception) -> Response:
    """The 500 page (or JSON); Starlette re-raises the error to the server, which logs it."""
    return error_response(request, 500)


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers on ``app``."""
    app.add_exception_handler(HTTPException, handle_http_error)
    app.add_exception_handler(LoginRequired, handle_login_required)
    app.add_exception_handler(Exception, handle_unexpected_error)
