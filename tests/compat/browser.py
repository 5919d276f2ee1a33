"""One cookie jar for a Flask app and a FastAPI app, in-process or over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask

from tests.servers import serve_asgi, serve_wsgi

Side = Literal["flask", "fastapi"]
ORIGIN = "http://localhost"


class Browser:
    """A user's browser: what the apps set is what the next request carries, whichever
    app answers. Cookies are kept by name (both apps share one host); Max-Age=0 deletes."""

    def __init__(self, clients: dict[Side, Any]) -> None:
        self.clients = clients
        self.cookies: dict[str, str] = {}

    def request(self, side: Side, method: str, url: str, **kwargs: Any) -> Any:
        """One request to one app with this browser's cookies; redirects are not followed."""
        client = self.clients[side]
        client.cookies.clear()
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = client.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            lowered = header.lower()
            if "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        client.cookies.clear()
        return response

    def get(self, side: Side, url: str, **kwargs: Any) -> Any:
        return self.request(side, "GET", url, **kwargs)

    def post(self, side: Side, url: str, **kwargs: Any) -> Any:
        return self.request(side, "POST", url, **kwargs)


@contextmanager
def in_process(flask_app: Flask, fastapi_app: FastAPI, root_path: str = "") -> Iterator[Browser]:
    """Both apps in this process (Flask through WSGI, FastAPI through Starlette's TestClient)."""
    with ExitStack() as stack:
        flask_client = stack.enter_context(
            httpx.Client(
                transport=httpx.WSGITransport(app=flask_app, script_name=root_path),
                base_url=ORIGIN,
            )
        )
        # Entered: one event loop for all requests, as in a worker.
        fastapi_client = stack.enter_context(
            TestClient(fastapi_app, base_url=ORIGIN, root_path=root_path, follow_redirects=False)
        )
        yield Browser({"flask": flask_client, "fastapi": fastapi_client})


@contextmanager
def over_http(flask_app: Flask, fastapi_app: FastAPI) -> Iterator[Browser]:
    """Both apps behind real servers (Werkzeug's and uvicorn) on loopback ports."""
    with ExitStack() as stack:
        flask_url = stack.enter_context(serve_wsgi(flask_app))
        fastapi_url = stack.enter_context(serve_asgi(fastapi_app))
        clients: dict[Side, Any] = {
            "flask": stack.enter_context(httpx.Client(base_url=flask_url, timeout=10)),
            "fastapi": stack.enter_context(httpx.Client(base_url=fastapi_url, timeout=10)),
        }
        yield Browser(clients)
