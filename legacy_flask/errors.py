"""Error pages (HTML) and API errors (JSON), identical to new_fastapi's."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.globals import request_ctx
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from notes_core.errors import error_payload, error_template

API_PREFIX = "/api/"


def is_api_request() -> bool:
    """True for paths under /api/, which get JSON errors instead of pages."""
    return request.path.startswith(API_PREFIX)


def _custom_detail(error: HTTPException) -> str | None:
    # Werkzeug's stock descriptions differ from Starlette's: only our own
    # messages are shown, the rest come from http.HTTPStatus on both sides.
    if error.description and error.description != type(error).description:
        return error.description
    return None


def handle_http_error(error: HTTPException) -> Any:
    """Render any HTTP error as JSON (API) or as the matching error page."""
    status = error.code or 500
    detail = _custom_detail(error)
    # Keep Allow (405); the HTML/JSON content type is set by the response itself.
    headers = [(name, value) for name, value in error.get_headers() if name.lower() == "allow"]
    if is_api_request():
        response = jsonify(error_payload(status, detail))
        response.status_code = status
        response.headers.extend(headers)
        return response
    http_status = HTTPStatus(status)
    if request_ctx.url_adapter is None:
        # The request never got a URL adapter (a Host Werkzeug refuses, BadHost):
        # the page templates build links with url_for, so answer without them.
        return _bare_page(status, http_status.phrase, detail or http_status.description)
    body = render_template(
        error_template(status),
        status=status,
        title=http_status.phrase,
        detail=detail or http_status.description,
    )
    return body, status, headers


def _bare_page(status: int, title: str, detail: str) -> tuple[str, int]:
    page = f"<!doctype html><title>{status} {escape(title)}</title><h1>{escape(title)}</h1>"
    return f"{page}<p>{escape(detail)}</p>", status


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on ``app``."""
    # Unhandled exceptions reach this handler as InternalServerError (logged by Flask).
    app.register_error_handler(HTTPException, handle_http_error)
