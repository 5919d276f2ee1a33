"""flask_compat.wtf against the real Flask-WTF: tokens issued by either app are accepted by
the other, and the FastAPI check refuses what CSRFProtect refuses, with its reasons."""

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from flask import Flask
from flask_wtf.csrf import CSRFProtect
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from flask_compat import FlaskCompat, render_template
from flask_compat.wtf import SALT, FlaskCSRF
from shared_session import SessionMiddleware, SessionSettings, install_flask_session
from tests.compat.browser import Browser, in_process

SECRET = "wtf-secret-key-0123456789"
TEMPLATES = Path(__file__).resolve().parent / "wtf_templates"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_flask(settings: SessionSettings, **config: Any) -> Flask:
    app = Flask("wtf_flask", template_folder=TEMPLATES)
    app.config.update(SECRET_KEY=SECRET, **config)
    install_flask_session(app, settings)
    CSRFProtect(app)

    @app.get("/form")
    def form() -> str:
        return flask.render_template("form.html")

    @app.post("/create")
    def create() -> str:
        return f"created {flask.request.form.get('title')}"

    return app


def create_fastapi(flask_app: Flask, settings: SessionSettings) -> FastAPI:
    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=settings)
    csrf = FlaskCSRF(flask_app)

    @app.get("/form")
    def form(request: Request) -> Response:
        page = render_template(request, "form.html")
        page.headers["x-python-token"] = csrf.generate_csrf(request)
        return page

    @app.post("/create", name="create", dependencies=[Depends(csrf.protect)])
    async def create(request: Request) -> Response:
        return PlainTextResponse(f"created {(await request.form()).get('title')}")

    return app


@pytest.fixture
def session_settings(redis_url: str, key_prefix: str) -> SessionSettings:
    return SessionSettings(redis_url=redis_url, key_prefix=key_prefix, secret_keys=[SECRET])


@pytest.fixture
def browser(session_settings: SessionSettings) -> Iterator[Browser]:
    flask_app = create_flask(session_settings)
    with in_process(flask_app, create_fastapi(flask_app, session_settings)) as client:
        yield client


def form_token(browser: Browser, side: str) -> str:
    match = TOKEN.search(browser.get(side, "/form").text)
    assert match is not None
    return match[1]


@pytest.mark.parametrize(("issuer", "checker"), [("fastapi", "flask"), ("flask", "fastapi")])
def test_a_token_from_one_app_is_accepted_by_the_other(
    browser: Browser, issuer: str, checker: str
) -> None:
    token = form_token(browser, issuer)
    answer = browser.post(checker, "/create", data={"csrf_token": token, "title": "t"})
    assert (answer.status_code, answer.text) == (200, "created t")


def test_the_page_renders_the_same_on_both_apps(browser: Browser) -> None:
    # Signed tokens carry a timestamp: compare the pages with the token blanked out.
    pages = [TOKEN.sub("TOKEN", browser.get(side, "/form").text) for side in ("flask", "fastapi")]
    assert pages[0] == pages[1]
    assert 'action="/create"' in pages[0]


def test_python_and_template_tokens_agree_within_a_request(browser: Browser) -> None:
    page = browser.get("fastapi", "/form")
    assert TOKEN.search(page.text)[1] == page.headers["x-python-token"]  # type: ignore[index]


@pytest.mark.parametrize("header", ["X-CSRFToken", "X-CSRF-Token"])
def test_a_token_in_a_header_is_accepted(browser: Browser, header: str) -> None:
    token = form_token(browser, "flask")
    answer = browser.post("fastapi", "/create", headers={header: token}, data={"title": "h"})
    assert answer.status_code == 200


def expired_token(raw: str) -> str:
    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 7200

    return URLSafeTimedSerializer(SECRET, salt=SALT, signer=TwoHoursAgo).dumps(raw)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "The CSRF token is missing."),
        ("garbage", "The CSRF token is invalid."),
        ("other session", "The CSRF tokens do not match."),
        ("expired", "The CSRF token has expired."),
    ],
)
def test_bad_tokens_are_refused_as_flask_wtf_refuses_them(
    session_settings: SessionSettings, case: str, reason: str
) -> None:
    flask_app = create_flask(session_settings)
    fastapi_app = create_fastapi(flask_app, session_settings)
    with in_process(flask_app, fastapi_app) as browser, in_process(flask_app, fastapi_app) as other:
        mine = form_token(browser, "flask")
        raw = URLSafeTimedSerializer(SECRET, salt=SALT).loads(mine)
        token = {
            "missing": "",
            "garbage": "not-a-token",
            "other session": form_token(other, "flask"),
            "expired": expired_token(raw),
        }[case]
        for side in ("flask", "fastapi"):
            answer = browser.post(side, "/create", data={"csrf_token": token})
            assert answer.status_code == 400
            assert reason in answer.text


def test_over_https_the_referrer_must_be_this_host(session_settings: SessionSettings) -> None:
    flask_app = create_flask(session_settings)
    with in_process(flask_app, create_fastapi(flask_app, session_settings)) as browser:
        token = form_token(browser, "fastapi")
        client = browser.clients["fastapi"]
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        base = {"cookie": cookie}
        url = "https://localhost/create"
        data = {"csrf_token": token}
        no_referrer = client.post(url, data=data, headers=base)
        assert no_referrer.json() == {"detail": "The referrer header is missing."}
        elsewhere = client.post(url, data=data, headers={**base, "referer": "https://evil/"})
        assert elsewhere.json() == {"detail": "The referrer does not match the host."}
        same = client.post(url, data=data, headers={**base, "referer": "https://localhost/form"})
        assert same.status_code == 200


def test_safe_methods_and_disabled_csrf_are_not_checked(session_settings: SessionSettings) -> None:
    flask_app = create_flask(session_settings, WTF_CSRF_ENABLED=False)
    with in_process(flask_app, create_fastapi(flask_app, session_settings)) as browser:
        assert browser.post("fastapi", "/create", data={"title": "x"}).status_code == 200


def test_the_field_name_comes_from_the_flask_config(session_settings: SessionSettings) -> None:
    flask_app = create_flask(session_settings, WTF_CSRF_FIELD_NAME="xsrf")
    with in_process(flask_app, create_fastapi(flask_app, session_settings)) as browser:
        issued = {
            "flask": form_token(browser, "flask"),
            "fastapi": browser.get("fastapi", "/form").headers["x-python-token"],
        }
        for issuer, checker in (("flask", "fastapi"), ("fastapi", "flask")):
            headers = {"X-CSRFToken": issued[issuer]}
            answer = browser.post(checker, "/create", headers=headers, data={"title": "x"})
            assert answer.status_code == 200, (issuer, checker, answer.text)
        # The raw token sits under the configured name: the default one is refused.
        answer = browser.post("fastapi", "/create", data={"csrf_token": issued["flask"]})
        assert answer.status_code == 400
