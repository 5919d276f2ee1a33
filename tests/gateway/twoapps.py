"""Two apps written by different teams, as files: both have top-level modules named
``auth``, ``config`` and ``utils`` (tests of source roots and routes files)."""

from __future__ import annotations

import textwrap
from pathlib import Path

LEGACY = {
    "config.py": 'NAME = "legacy"\n',
    "utils.py": "def shout(text):\n    return text.upper()\n",
    "helpers.py": 'NAME = "legacy helpers"\n',
    "auth/__init__.py": "",
    "auth/routes.py": """
        from flask import Blueprint

        from config import NAME
        from utils import shout

        bp = Blueprint("auth", __name__, url_prefix="/auth")


        @bp.get("/login")
        def login():
            return f"{shout(NAME)} login"


        @bp.get("/later")
        def later():
            import helpers  # an import at request time, of a name only this app has

            return helpers.NAME
    """,
    "webapp.py": """
        from flask import Flask

        from auth.routes import bp


        def create_app():
            app = Flask(__name__)
            app.register_blueprint(bp)

            @app.get("/page/<int(min=1):number>")
            def page(number):
                return f"legacy page {number}"

            return app
    """,
}

NEW = {
    "config.py": 'NAME = "new"\n',
    "utils.py": "def shout(text):\n    return text.upper() + '!'\n",
    "auth/__init__.py": "",
    "auth/routes.py": """
        from fastapi import APIRouter
        from fastapi.responses import PlainTextResponse

        from config import NAME
        from utils import shout

        router = APIRouter()


        @router.get("/auth/login", name="auth.login", response_class=PlainTextResponse)
        def login():
            return f"{shout(NAME)} login"
    """,
    "service.py": """
        from fastapi import FastAPI

        from auth.routes import router

        app = FastAPI()
        app.include_router(router)
    """,
}


def write_app(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def write_both(tmp_path: Path) -> tuple[Path, Path]:
    return write_app(tmp_path / "legacy", LEGACY), write_app(tmp_path / "new", NEW)
