"""The FastAPI port of blogapp, half done: blog.index, blog.show, blog.feed and
admin.dashboard are ported; auth.* and blog.create/tagged are still on Flask."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from flask import Flask

from flask_compat import FlaskCompat, g, render_template
from shared_session import SessionMiddleware, SessionSettings
from tests.compat.blogapp import POSTS


def load_user(request: Request) -> None:
    """The port of blogapp's before_request: g.user from the session."""
    g.user = request.session.get("user")


def create_app(flask_app: Flask, session_settings: SessionSettings) -> FastAPI:
    """The FastAPI app, sharing the Flask app's templates, static files and session."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=session_settings)

    blog = APIRouter(dependencies=[Depends(load_user)])

    @blog.get("/", name="blog.index")
    def index(request: Request) -> Response:
        return render_template(request, "blog/index.html", posts=POSTS)

    @blog.get("/post/{id:int}", name="blog.show")
    def show(request: Request, id: int) -> Response:
        post = next(p for p in POSTS if p["id"] == id)
        return render_template(request, "blog/show.html", post=post)

    @blog.get("/feed.txt", name="blog.feed")
    def feed(request: Request) -> Response:
        text = render_template(request, "feed.txt", posts=POSTS).body
        return PlainTextResponse(text)

    admin = APIRouter(prefix="/admin", dependencies=[Depends(load_user)])

    @admin.get("/", name="admin.dashboard")
    def dashboard(request: Request) -> Response:
        return render_template(request, "admin/dashboard.html", session={"theme": "the view's own"})

    app.include_router(blog)
    app.include_router(admin)
    return app
