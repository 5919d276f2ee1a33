"""FlaskContext: a ported view body keeps using a Flask extension that needs Flask's
contexts (Flask-SQLAlchemy's db.session), under a real uvicorn server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from flask_compat import FlaskCompat, FlaskContext, g, render_template_string
from tests.servers import serve_asgi


def blog(tmp_path: Path) -> tuple[FastAPI, list[Any]]:
    """A Flask app with Flask-SQLAlchemy, as the Mega-Tutorial has it, and routes
    ported to FastAPI that use its ``db`` as the Flask views did."""
    flask_app = Flask(__name__)
    flask_app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'blog.sqlite3'}"
    db = SQLAlchemy(flask_app)

    class Post(db.Model):  # type: ignore[name-defined, misc]
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(80))

    with flask_app.app_context():
        db.create_all()
    teardowns: list[Any] = []
    flask_app.teardown_appcontext(teardowns.append)

    app = FastAPI()
    FlaskCompat(flask_app).install(app)

    @app.post("/posts/{title}", dependencies=[FlaskContext])
    def add(title: str) -> dict[str, int]:  # a def endpoint: FastAPI's worker thread
        db.session.add(Post(title=title))
        db.session.commit()
        return {"posts": db.session.scalar(db.select(func.count(Post.id)))}

    @app.get("/posts", dependencies=[FlaskContext])
    async def titles() -> list[str]:
        return list(db.session.scalars(db.select(Post.title).order_by(Post.id)))

    @app.get("/page", dependencies=[FlaskContext])
    def page(request: Request) -> Response:
        g.who = "grace"
        posts = db.session.scalars(db.select(Post).order_by(Post.id)).all()
        # The template reads the models (and g) as the Flask template did.
        return render_template_string(
            request, "{{ g.who }}: {% for p in posts %}{{ p.title }} {% endfor %}", posts=posts
        )

    @app.get("/without")
    def without() -> dict[str, int]:
        return {"posts": db.session.scalar(db.select(func.count(Post.id)))}

    return app, teardowns


def test_a_ported_view_uses_flask_sqlalchemy_inside_flasks_contexts(tmp_path: Path) -> None:
    app, teardowns = blog(tmp_path)
    with serve_asgi(app) as url:
        assert httpx.post(f"{url}/posts/first").json() == {"posts": 1}
        assert httpx.post(f"{url}/posts/second").json() == {"posts": 2}
        assert httpx.get(f"{url}/posts").json() == ["first", "second"]
        assert httpx.get(f"{url}/page").text == "grace: first second "
        # Each request's end ran the Flask app's teardown (db.session.remove()),
        # once its answer was out (bounded wait).
        deadline = time.monotonic() + 5
        while len(teardowns) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert teardowns == [None] * 4
        # Without the dependency there is no app context: Flask-SQLAlchemy refuses.
        assert httpx.get(f"{url}/without").status_code == 500
