"""A small blog built the way public Flask apps are: an app factory, blueprints with
url_prefix and their own template and static folders, filters, tests, globals, context
processors, jinja_options, g.user, flashes. The FastAPI port lives in blogapp_port.py."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

HERE = Path(__file__).resolve().parent
POSTS = [
    {"id": 1, "title": "hello <world>", "body": "first post", "tags": ["intro", "a b/c"]},
    {"id": 2, "title": "a much longer title than the others", "body": "second", "tags": []},
    {"id": 3, "title": "third", "body": "skipped by the loop", "tags": []},
]


class BlogFlask(Flask):
    """Flask with its own Jinja options, as apps set them (trim_blocks, extensions)."""

    jinja_options = {
        "trim_blocks": True,
        "lstrip_blocks": True,
        "extensions": ["jinja2.ext.loopcontrols", "jinja2.ext.do"],
    }


blog = Blueprint("blog", __name__, template_folder="blog_templates")
auth = Blueprint("auth", __name__, url_prefix="/auth")
admin = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="admin/templates",
    static_folder="admin/static",
    static_url_path="/assets",
)


@blog.get("/")
def index() -> str:
    return render_template("blog/index.html", posts=POSTS)


@blog.get("/post/<int:id>")
def show(id: int) -> str:
    post = next(p for p in POSTS if p["id"] == id)
    return render_template("blog/show.html", post=post)


@blog.route("/create", methods=["GET", "POST"])
def create() -> Any:
    if request.method == "POST":
        flash(f"Created {request.form['title']}", "success")
        return redirect(url_for("blog.index"))
    return "create form"


@blog.get("/tag/<path:tag>")
def tagged(tag: str) -> str:
    return f"posts tagged {tag}"


@blog.get("/feed.txt")
def feed() -> tuple[str, int, dict[str, str]]:
    text = render_template("feed.txt", posts=POSTS)
    return text, 200, {"Content-Type": "text/plain; charset=utf-8"}


@blog.app_template_filter("initials")
def initials(value: str) -> str:
    return "".join(word[0] for word in value.split() if word).upper()


@auth.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        session["user"] = request.form["name"]
        flash("Welcome back!")
        return redirect(request.args.get("next") or url_for("blog.index"))
    return "login form"


@auth.get("/logout")
def logout() -> Any:
    session.pop("user", None)
    return redirect(url_for("blog.index"))


@admin.get("/")
def dashboard() -> str:
    return render_template("admin/dashboard.html", session={"theme": "the view's own"})


@admin.context_processor
def admin_section() -> dict[str, Any]:
    return {"section": "admin", "nav_items": ["Dashboard"]}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory."""
    app = BlogFlask(__name__)
    app.config.update(SECRET_KEY="blog-secret-key-0123456789", SITE_TITLE="The <Blog>")
    app.config.update(config or {})

    @app.before_request
    def load_user() -> None:
        g.user = session.get("user")

    @app.template_filter("shout")
    def shout(value: str) -> str:
        return value.upper() + "!"

    @app.template_test("long")
    def is_long(value: str) -> bool:
        return len(value) > 20

    @app.template_global("site_name")
    def site_name() -> str:
        return "Blog"

    @app.context_processor
    def navigation() -> dict[str, Any]:
        greeting = f"Hello, {g.user}" if g.get("user") else "Hello, stranger"
        return {"nav_items": ["Home", "About"], "greeting": greeting}

    app.register_blueprint(blog)
    app.register_blueprint(auth)
    app.register_blueprint(admin)
    return app
