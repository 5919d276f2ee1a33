"""migrate-gateway scaffold: a FastAPI router module per blueprint that imports cleanly,
passes ruff, routes every rule as Flask does and, with --convert, runs the converted views."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flask_compat import FlaskCompat
from flask_compat.scaffold import ScaffoldError, fastapi_path, scaffold_module
from flask_compat.scaffold.imports import rename
from gateway.cli import app as cli
from gateway.flags import FlagTable, Groups, parse_flag
from gateway.loading import load_flask_app
from gateway.parity import build_report
from gateway.routes import RouteTable, app_routes
from shared_session import SessionMiddleware, SessionSettings
from tests.port import convertible

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "SECRET_KEY": "scaffold-test-secret-0123456789abcdef"}

# (import string, blueprint) of real apps: this test bed's and the reference app's.
BLUEPRINTS = [
    ("tests.port.pubblog:create_app()", "blog"),
    ("tests.port.pubblog:create_app()", "auth"),
    ("tests.compat.blogapp:create_app()", "blog"),
    ("tests.compat.blogapp:create_app()", "admin"),
    ("legacy_flask:create_app()", "webapp"),
    ("legacy_flask:create_app()", "api"),
    ("tests.gateway.support:rich_flask_app()", None),
    ("tests.gateway.support:rich_flask_app()", "admin"),
    ("tests.port.convertible:create_app()", "notes"),
]


def scaffold_file(tmp_path: Path, app: str, blueprint: str | None, convert: bool) -> Path:
    """Run the CLI as a user does, into a directory with this repository's ruff settings."""
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    out = tmp_path / f"ported_{blueprint or 'app'}_{int(convert)}.py"
    args = [str(BIN / "migrate-gateway"), "scaffold", "--app", app, "-o", str(out)]
    args += (["--blueprint", blueprint] if blueprint else []) + (["--convert"] if convert else [])
    done = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ruff(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ruff"), "check", str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("convert", [False, True], ids=["plain", "convert"])
@pytest.mark.parametrize(("app", "blueprint"), BLUEPRINTS)
def test_scaffold_imports_passes_ruff_and_routes_every_rule_as_flask(
    tmp_path: Path, app: str, blueprint: str | None, convert: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", ENV["SECRET_KEY"])
    path = scaffold_file(tmp_path, app, blueprint, convert)
    linted = ruff(path)
    assert linted.returncode == 0, linted.stdout + path.read_text()
    module = import_file(path)
    fastapi_app = FastAPI()
    fastapi_app.include_router(module.router)
    flask_app = load_flask_app(app)
    prefix = f"{blueprint}." if blueprint else ""
    rules = [
        r for r in flask_app.url_map.iter_rules()
        if (r.endpoint.startswith(prefix) if blueprint else "." not in r.endpoint)
        and not r.endpoint.endswith("static")
    ]  # fmt: skip
    flags, _ = FlagTable.from_texts(0, {}, parse_flag("legacy"), "test")
    table = RouteTable(None, app_routes(fastapi_app))
    report = build_report(rules, table.new_routes, flags, Groups({}, {})).as_dict()
    assert report["routes"], "no rules compared"
    for row in report["routes"]:
        # Routes the scaffold could not port are tagged, and listed as such, not implemented.
        tagged = [d for d in row["disagreements"] if d.startswith("scaffold:")]
        assert row["state"] == "implemented" or row["disagreements"] == tagged, row
    states = {row["state"] for row in report["routes"]}
    if not convert and blueprint == "api":  # no view of it renders a template: all stubs
        assert states == {"disagrees"}


def test_converters_become_typed_path_parameters() -> None:
    assert fastapi_path("/post/<int:id>") == ("/post/{id:int}", fastapi_path("/<int:id>")[1])
    path, params = fastapi_path("/a/<float:x>/<path:rest>/<uuid:u>/<name>/<any(a, b):kind>")
    assert path == "/a/{x:float}/{rest:path}/{u:uuid}/{name}/{kind}"
    assert [(p.name, p.annotation) for p in params] == [
        ("x", "float"), ("rest", "str"), ("u", "uuid.UUID"), ("name", "str"), ("kind", "str")
    ]  # fmt: skip
    assert params[4].note and "refused more values" in params[4].note


def test_plain_scaffold_renders_the_same_template_and_keeps_the_view_as_comment() -> None:
    source = scaffold_module(load_flask_app("tests.port.pubblog:create_app()"), "blog")
    assert 'return render_template(request, "blog/index.html")' in source
    assert "#     posts = store.latest(" in source


def converted_client(tmp_path: Path, redis_url: str, key_prefix: str) -> TestClient:
    path = scaffold_file(tmp_path, "tests.port.convertible:create_app()", "notes", True)
    module = import_file(path)
    app = FastAPI()
    FlaskCompat(convertible.create_app()).install(app)
    app.add_middleware(
        SessionMiddleware,
        settings=SessionSettings(
            redis_url=redis_url, key_prefix=key_prefix, secret_keys=["k" * 32]
        ),
    )
    app.include_router(module.router)
    return TestClient(app, follow_redirects=False)


def test_converted_views_run_under_fastapi(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    with converted_client(tmp_path, redis_url, key_prefix) as client:
        assert client.get("/notes/1").json() == "first"  # jsonify(x) -> x
        assert client.get("/notes/9").status_code == 404  # abort(404, ...) -> HTTPException
        found = client.get("/notes/search", params={"q": "sec", "limit": "5"}).json()
        assert found == {"query": "sec", "found": ["second"], "visits": 1}  # args, session
        created = client.post("/notes/", data={"title": "third"})
        assert created.status_code == 302 and created.headers["location"] == "/notes/3"
        assert client.post("/notes/", data={"title": " "}).status_code == 400
        assert client.get("/notes/page/2").json() == {
            "page": 2,
            "path": "/notes/page/2",
            "method": "GET",
        }
        assert client.get("/notes/").json()["page"] == 1  # the rule's defaults
        stub = client.post("/notes/upload")
        assert stub.status_code == 501 and "notes.upload is not ported yet" in stub.text


def test_what_cannot_be_converted_stays_as_a_marked_comment() -> None:
    source = scaffold_module(convertible.create_app(), "notes", convert=True)
    upload = source[source.index('name="notes.upload"') :]
    assert "# scaffold: cannot convert: request.files" in upload
    assert '#     data = request.files["file"].read()' in upload
    assert 'raise HTTPException(status_code=501, detail="notes.upload is not ported yet")' in upload


def test_unknown_blueprint_is_a_clear_error() -> None:
    with pytest.raises(ScaffoldError, match=r"no blueprint 'nope'.*blog"):
        scaffold_module(load_flask_app("tests.port.pubblog:create_app()"), "nope")
    result = CliRunner().invoke(
        cli, ["scaffold", "--app", "tests.port.pubblog:create_app()", "-b", "nope"]
    )
    assert result.exit_code == 1 and "no blueprint" in result.output


def test_an_existing_output_is_not_overwritten_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mine.py"
    target.write_text("# my edits\n")
    args = ["scaffold", "--app", "tests.port.pubblog:create_app()", "-b", "blog", "-o", str(target)]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1 and "--force" in refused.output
    assert target.read_text() == "# my edits\n"
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0


def test_extensions_of_a_public_app_convert_to_the_kits_dependencies() -> None:
    app = load_flask_app("tests.port.pubblog:create_app()")
    blog = scaffold_module(app, "blog", convert=True)
    assert "x-scaffold" not in blog  # every view of the blueprint converted
    assert "router = APIRouter(dependencies=[Depends(load_logged_in_user)])" in blog
    assert "def load_logged_in_user(request: Request, *, current_user: CurrentUser):" in blog
    create = blog[blog.index('name="blog.create"') :]
    assert "dependencies=[Depends(login_required), Depends(csrf_protect)]" in create
    assert "async def create(request: Request, *, current_user: CurrentUser):" in create
    assert "form = await flask_form(request, PostForm)" in create
    show = blog[blog.index('name="blog.show"') : blog.index('name="blog.comment"')]
    assert "csrf_protect" not in show  # GET: CSRFProtect does not check it
    auth = scaffold_module(app, "auth", convert=True)
    assert "# scaffold: cannot convert: login_user (Flask's, needs a Flask request)" in auth


FLASKR = ROOT / "tests" / "port" / "flaskr_project"


def scaffold_in(project: Path, out: Path, *, with_ruff: bool) -> subprocess.CompletedProcess[str]:
    """``migrate-gateway scaffold --app 'flaskr:create_app()' -b auth --convert -o OUT`` run
    from the project's directory, as a user of an app shaped like Flask's tutorial runs
    it; ``with_ruff=False``: as where ruff is not installed (neither next to the Python
    nor on PATH)."""
    code = (
        "import sys\n"
        "from gateway.cli import main, scaffold\n"
        + ("" if with_ruff else "scaffold.find_ruff = lambda: None\n")
        + "sys.argv[0] = 'migrate-gateway'\n"
        "main()\n"
    )
    args = ["scaffold", "--app", "flaskr:create_app()", "-b", "auth", "--convert", "-o", str(out)]
    env = {**ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def scaffold_project(
    tmp_path: Path, files: dict[str, str], app: str, blueprint: str, *options: str
) -> tuple[Path, Path]:
    """Write ``files`` (paths relative to a new project directory) and run
    ``migrate-gateway scaffold --app APP -b BLUEPRINT OPTIONS -o out.py`` from
    there, as a user does; (the project directory, the written module)."""
    project = tmp_path / "project"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    out = project / "out.py"
    args = ["scaffold", "--app", app, "-b", blueprint, *options, "-o", str(out)]
    done = subprocess.run(
        [str(BIN / "migrate-gateway"), *args],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return project, out


def ruff_isolated(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ruff"), *args, "--isolated"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("with_ruff", [True, False], ids=["ruff", "no-ruff"])
def test_a_name_two_modules_give_is_imported_once_from_where_it_is_defined(
    tmp_path: Path, with_ruff: bool
) -> None:
    # flaskr/__init__.py does `from flaskr.auth import USERS` for its before_app_request
    # hook; the auth views read USERS too: one object, one import, from flaskr.auth.
    out = tmp_path / "out.py"
    done = scaffold_in(FLASKR, out, with_ruff=with_ruff)
    assert done.returncode == 0, done.stderr
    source = out.read_text()
    assert "from flaskr.auth import USERS\n" in source, source
    assert "from flaskr import" not in source, source
    checked = ruff_isolated(FLASKR, "check", "--output-format", "concise", str(out))
    assert checked.returncode == 0, checked.stdout + source
    formatted = ruff_isolated(FLASKR, "format", "--check", str(out))
    if with_ruff:
        assert formatted.returncode == 0, formatted.stdout + source
        assert "ruff not found" not in done.stderr
    else:  # what docs/migration-guide.md says: formatting needs ruff, and the CLI says so
        assert "ruff not found" in done.stderr and f"ruff format {out}" in done.stderr
        assert "# ruff: noqa" not in source  # ruff's default rules would call it unused


TWO_USERS = {
    "__init__.py": """\
from flask import Flask, g

from twousers.auth import bp

USERS = {"root": "the hook's"}


@bp.before_app_request
def load_admin():
    g.admin = USERS.get("root")


def create_app():
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app
""",
    "auth.py": """\
from flask import Blueprint, g, jsonify

bp = Blueprint("auth", __name__)

USERS = {"alice": "the view's"}


@bp.route("/who")
def who():
    return jsonify({"user": USERS["alice"], "admin": g.admin})
""",
}


def test_two_objects_of_one_name_from_two_modules_get_an_alias(tmp_path: Path) -> None:
    files = {f"twousers/{name}": text for name, text in TWO_USERS.items()}
    project, out = scaffold_project(tmp_path, files, "twousers:create_app()", "auth", "--convert")
    source = out.read_text()
    checked = ruff_isolated(project, "check", "--output-format", "concise", str(out))
    assert checked.returncode == 0, checked.stdout + source
    assert "from twousers import USERS as USERS_TWOUSERS" in source, source
    assert 'g.admin = USERS_TWOUSERS.get("root")' in source, source
    assert 'USERS["alice"]' in source, source
    # And the module runs: the hook reads the hook module's dict, the view the view's.
    sys.path.insert(0, str(project))
    try:
        module = import_file(out)
        fastapi_app = FastAPI()
        FlaskCompat(importlib.import_module("twousers").create_app()).install(fastapi_app)
        fastapi_app.include_router(module.router)
        with TestClient(fastapi_app) as client:
            assert client.get("/who").json() == {"user": "the view's", "admin": "the hook's"}
    finally:
        sys.path.remove(str(project))
        for name in [m for m in sys.modules if m == "twousers" or m.startswith("twousers.")]:
            del sys.modules[name]


STACKED = {
    "stacked.py": """\
from flask import Blueprint, Flask, url_for

bp = Blueprint("main", __name__)


@bp.route("/")
@bp.route("/index")
def index():
    return url_for("main.index")


@bp.route("/explore/<int:page>")
@bp.route("/explore", defaults={"page": 1})
def explore(page):
    return url_for("main.explore", page=page)


def create_app():
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app
""",
}


@pytest.mark.parametrize("convert", [False, True], ids=["plain", "convert"])
def test_stacked_routes_keep_flasks_order_so_url_for_builds_the_same_url(
    tmp_path: Path, convert: bool
) -> None:
    """Flask builds an endpoint's URL from its first rule, the bottom decorator;
    Starlette from its first route, the bottom decorator too: the scaffold must
    write them in the order of the Flask source."""
    options = ["--convert"] if convert else []
    project, out = scaffold_project(tmp_path, STACKED, "stacked:create_app()", "main", *options)
    sys.path.insert(0, str(project))
    try:
        flask_app = importlib.import_module("stacked").create_app()
        module = import_file(out)
        fastapi_app = FastAPI()
        fastapi_app.include_router(module.router)
        with flask_app.test_request_context():
            from flask import url_for

            expected = [url_for("main.index"), url_for("main.explore", page=1)]
            expected.append(url_for("main.explore", page=2))
        built = [
            fastapi_app.url_path_for("main.index"),
            fastapi_app.url_path_for("main.explore"),
            fastapi_app.url_path_for("main.explore", page="2"),
        ]
        assert built == expected, out.read_text()
    finally:
        sys.path.remove(str(project))
        sys.modules.pop("stacked", None)


def test_rename_renames_variables_not_attributes_or_keywords() -> None:
    code = "x = loads(a.loads, loads=loads)\n"
    assert rename(code, {"loads": "loads_pickle"}) == (
        "x = loads_pickle(a.loads, loads=loads_pickle)\n"
    )
