"""The WSGI environ of a FastAPI request, so Flask code can see the request as Flask would.

Flask's URL adapters, ``flask.request`` (for context processors and
template globals) and Flask-Login's session identifier all read the WSGI
environ. The body is not part of it: it stays with FastAPI, so
``request.form`` and ``request.files`` are empty on the Flask side.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from starlette.types import Scope
from werkzeug.exceptions import BadRequest
from werkzeug.routing import Map, MapAdapter

SCOPE_KEY = "flask_compat.scope"


def scope_root_path(scope: Scope) -> str:
    """The application's root path, also inside a mount (which moves ``root_path``)."""
    return str(scope.get("app_root_path", scope.get("root_path", "")))


def _wsgi_str(value: str) -> str:
    # PEP 3333: environ strings carry the raw bytes (UTF-8 on the wire) as latin-1.
    return value.encode("utf-8").decode("latin-1")


def environ_from_scope(scope: Scope) -> dict[str, Any]:
    """A WSGI environ describing the ASGI request ``scope`` (headers, path, client; no body).

    ``SCRIPT_NAME`` is the root path and ``PATH_INFO`` the rest, as a WSGI
    server splits them, so URLs Flask builds carry the same prefix.
    """
    root_path = scope_root_path(scope)
    path = str(scope.get("path", "/"))
    if root_path and path.startswith(root_path):
        # Starlette 1.x keeps the root path in scope["path"]; WSGI strips it from PATH_INFO.
        path = path[len(root_path) :]
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(scope.get("method", "GET")),
        "SCRIPT_NAME": _wsgi_str(root_path),
        "PATH_INFO": _wsgi_str(path or "/"),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": str(scope.get("scheme", "http")),
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        SCOPE_KEY: scope,
    }
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH":
            continue  # the body stays with FastAPI; Flask sees an empty one
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        if key in environ:
            # Repeated headers, joined as a WSGI server joins them.
            separator = "; " if key == "HTTP_COOKIE" else ", "
            environ[key] = f"{environ[key]}{separator}{value}"
        else:
            environ[key] = value
    return environ


def bind_map(url_map: Map, environ: dict[str, Any], server_name: str | None = None) -> MapAdapter:
    """``url_map`` bound to a request as Flask binds it (default subdomain).

    A Host Werkzeug rejects (a label over 63 characters) binds without a host
    instead of failing: relative URLs do not need one, so a page (an error
    page, say) still renders.
    """
    subdomain = url_map.default_subdomain or ""
    try:
        return url_map.bind_to_environ(environ, server_name=server_name, subdomain=subdomain)
    except BadRequest:
        return hostless_map(url_map, environ)


def hostless_map(url_map: Map, environ: dict[str, Any]) -> MapAdapter:
    """``url_map`` bound to the request's root path and scheme, with an empty host."""
    return url_map.bind(
        "",
        script_name=environ.get("SCRIPT_NAME") or "/",
        subdomain=url_map.default_subdomain or "",
        url_scheme=environ.get("wsgi.url_scheme", "http"),
        default_method=environ.get("REQUEST_METHOD", "GET"),
    )
