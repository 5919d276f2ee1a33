"""A test browser: one cookie jar, two apps on the same host, plus OIDC login helpers."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask

Side = Literal["flask", "fastapi"]
SIDES: tuple[Side, Side] = ("flask", "fastapi")
# Both apps answer on this origin, so the redirect_uri http://localhost/callback
# can be finished by either one.
ORIGIN = "http://localhost"


class Browser:
    """One browser talking to both apps in-process with a single cookie jar."""

    def __init__(
        self,
        flask_app: Flask,
        fastapi_app: FastAPI,
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
    ) -> None:
        # Plain name -> value: Starlette's TestClient is built on httpx2, whose
        # Cookies class is not httpx's, so the jar is copied in and out by value.
        self.cookies: dict[str, str] = {}
        self.clients: dict[Side, Any] = {
            "flask": httpx.Client(
                transport=httpx.WSGITransport(
                    app=flask_app,
                    raise_app_exceptions=raise_server_exceptions,
                    script_name=root_path,
                ),
                base_url=ORIGIN,
            ),
            "fastapi": TestClient(
                fastapi_app,
                base_url=ORIGIN,
                raise_server_exceptions=raise_server_exceptions,
                root_path=root_path,
            ),
        }
        # One event loop for the browser's lifetime (not one per request), so the
        # session store's async Redis connections live and close on a single loop.
        self.clients["fastapi"].__enter__()

    def request(self, side: Side, method: str, url: str, **kwargs: Any) -> Any:
        """Send one request to one app with this browser's cookies (no redirects followed)."""
        client = self.clients[side]
        client.cookies.clear()
        for name, value in self.cookies.items():
            client.cookies.set(name, value)
        response = client.request(method, url, follow_redirects=False, **kwargs)
        self.cookies = {cookie.name: cookie.value for cookie in client.cookies.jar}
        return response

    def get(self, side: Side, url: str, **kwargs: Any) -> httpx.Response:
        """GET on one app."""
        return self.request(side, "GET", url, **kwargs)

    def post(self, side: Side, url: str, **kwargs: Any) -> httpx.Response:
        """POST on one app."""
        return self.request(side, "POST", url, **kwargs)

    def session_id_cookie(self) -> str | None:
        """The signed session cookie (``ssid``), or None."""
        return self.cookies.get("ssid")

    def csrf_token(self, side: Side = "flask") -> str:
        """The session's CSRF token, as the API hands it out (needs a login)."""
        response = self.get(side, "/api/me")
        assert response.status_code == 200, response.text
        return response.json()["csrf_token"]

    def close(self) -> None:
        """Close both clients (and the FastAPI client's event loop)."""
        self.clients["fastapi"].__exit__(None, None, None)
        self.clients["flask"].close()


def start_login(browser: Browser, side: Side) -> str:
    """GET /login on ``side``; the provider's authorize URL it redirects to."""
    response = browser.get(side, "/login")
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert "/oauth2/authorize?" in location, location
    return location


def authorize_at_provider(authorize_url: str, sub: str = "alice", action: str | None = None) -> str:
    """Log in at the development provider as ``sub`` (or deny); the callback URL it returns."""
    data = {"sub": sub} if action is None else {"action": action}
    response = httpx.post(authorize_url, data=data, follow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def finish_login(browser: Browser, side: Side, callback_url: str) -> httpx.Response:
    """Follow the provider's redirect to /callback on ``side``."""
    parts = urlsplit(callback_url)
    return browser.get(side, urlunsplit(("", "", parts.path, parts.query, "")))


def login(
    browser: Browser, start: Side = "flask", finish: Side | None = None, sub: str = "alice"
) -> httpx.Response:
    """A full OIDC code flow: start on one app, finish on the other (default: the same)."""
    callback_url = authorize_at_provider(start_login(browser, start), sub)
    response = finish_login(browser, finish or start, callback_url)
    assert response.status_code == 302, response.text
    return response


ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\+00:00|Z)?")
CSRF_FIELD = re.compile(r'(name="csrf_token" value=")[^"]+(")')
VOLATILE_QUERY = {"state", "nonce", "id_token_hint"}


def normalise_text(text: str) -> str:
    """Blank out timestamps and CSRF token values."""
    return CSRF_FIELD.sub(r"\1CSRF\2", ISO_TIMESTAMP.sub("TIMESTAMP", text))


def normalise_json(value: Any) -> Any:
    """Blank out timestamps and CSRF tokens in a JSON document."""
    if isinstance(value, dict):
        return {
            key: "CSRF" if key == "csrf_token" else normalise_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [normalise_json(item) for item in value]
    if isinstance(value, str):
        return ISO_TIMESTAMP.sub("TIMESTAMP", value)
    return value


def normalise_location(location: str | None) -> str | None:
    """A redirect target with its per-login query values (state, nonce...) blanked."""
    if location is None:
        return None
    parts = urlsplit(location)
    query = [
        (key, "X" if key in VOLATILE_QUERY else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def comparable(response: httpx.Response) -> dict[str, Any]:
    """What must be equal between the two apps: status, redirect, media type, body."""
    media_type: str | None = response.headers.get("content-type", "").split(";")[0]
    if response.status_code in (204, 301, 302, 303, 307, 308):
        # Redirect and empty bodies are framework boilerplate, not part of the app.
        media_type, body = None, None
    elif media_type == "application/json" and response.content:
        body: Any = normalise_json(response.json())
    else:
        body = normalise_text(response.text)
    return {
        "status": response.status_code,
        "location": normalise_location(response.headers.get("location")),
        "media_type": media_type,
        "body": body,
    }
