"""The error contract both apps honour: one JSON shape, one template per status."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


def error_payload(status: int, detail: str | None, **extra: Any) -> dict[str, Any]:
    """The JSON body of an API error."""
    http_status = HTTPStatus(status)
    return {
        "error": {
            "status": status,
            "title": http_status.phrase,
            "detail": detail or http_status.description,
            **extra,
        }
    }


def error_template(status: int) -> str:
    """The template of the error page for ``status``."""
    if status == 404:
        return "errors/404.html"
    if status == 500:
        return "errors/500.html"
    return "errors/error.html"
