"""FlaskCSRF.form: a Flask-WTF form class on the FastAPI side, against the real Flask-WTF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from flask import Flask
from flask_wtf import CSRFProtect, FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, ValidationError

from flask_compat import FlaskCompat, render_template_string
from flask_compat.wtf import FlaskCSRF
from shared_session import SessionMiddleware, SessionSettings, install_flask_session
from tests.compat.browser import Browser, in_process

SECRET = "forms-secret-key-0123456789abcdef"
TEMPLATE = "<form>{{ form.hidden_tag() }}{{ form.name.label }}{{ form.name(size=20) }}</form>"


class NameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired()])

    def validate_name(self, field: Any) -> None:
        if field.data == "nobody":
            raise ValidationError("Pick a real name.")


@pytest.fixture
def browser(redis_url: str, key_prefix: str) -> Iterator[Browser]:
    settings = SessionSettings(redis_url=redis_url, key_prefix=key_prefix, secret_keys=[SECRET])
    flask_app = Flask("forms_flask")
    flask_app.config["SECRET_KEY"] = SECRET
    install_flask_session(flask_app, settings)
    CSRFProtect(flask_app)

    @flask_app.route("/form", methods=["GET", "POST"])
    def flask_form() -> Any:
        from flask import render_template_string as flask_render

        form = NameForm()
        if form.validate_on_submit():
            return {"ok": form.name.data}
        return flask_render(TEMPLATE, form=form)

    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=settings)
    csrf = FlaskCSRF(flask_app)

    @app.api_route("/form", methods=["GET", "POST"])
    async def fastapi_form(request: Request) -> Response:
        form = await csrf.form(request, NameForm)
        if form.validate_on_submit():
            return JSONResponse({"ok": form.name.data})
        if form.is_submitted():
            return JSONResponse({"errors": form.errors}, 400)
        return render_template_string(request, TEMPLATE, form=form)

    with in_process(flask_app, app) as client:
        yield client


def token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_the_form_renders_as_flask_wtf_renders_it(browser: Browser) -> None:
    flask_html = browser.get("flask", "/form").text
    fastapi_html = browser.get("fastapi", "/form").text
    same = re.compile(r'value="[^"]+"')
    assert same.sub("T", fastapi_html) == same.sub("T", flask_html)
    assert '<input id="csrf_token" name="csrf_token" type="hidden"' in fastapi_html


@pytest.mark.parametrize(("issuer", "checker"), [("flask", "fastapi"), ("fastapi", "flask")])
def test_a_token_rendered_by_one_side_validates_on_the_other(
    browser: Browser, issuer: str, checker: str
) -> None:
    issued = token(browser.get(issuer, "/form").text)  # type: ignore[arg-type]
    posted = browser.post(checker, "/form", data={"csrf_token": issued, "name": "ada"})  # type: ignore[arg-type]
    assert posted.json() == {"ok": "ada"}


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "ada"}, {"csrf_token": ["The CSRF token is missing."]}),
        ({"name": "ada", "csrf_token": "forged"}, {"csrf_token": ["The CSRF token is invalid."]}),
        ({"name": "nobody", "csrf_token": None}, {"name": ["Pick a real name."]}),
        ({"name": "", "csrf_token": None}, {"name": ["This field is required."]}),
    ],
)
def test_validation_gives_flask_wtfs_messages(
    browser: Browser, data: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    if "csrf_token" in data and data["csrf_token"] is None:
        data = {**data, "csrf_token": token(browser.get("fastapi", "/form").text)}
    posted = browser.post("fastapi", "/form", data=data)
    assert posted.status_code == 400 and posted.json() == {"errors": errors}
