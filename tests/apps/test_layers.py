"""new_fastapi takes only templates, static files and filters from legacy_flask and
renders them through flask_compat (the reusable kit, which imports neither app);
the shared domain (notes_core) knows neither web framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"legacy_flask.assets", "legacy_flask.filters"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_new_fastapi_imports_only_assets_and_filters_from_legacy_flask() -> None:
    used = {
        name
        for path in (ROOT / "new_fastapi").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] == "legacy_flask"
    }
    assert used <= ALLOWED


def test_new_fastapi_renders_through_flask_compat_only() -> None:
    sources = {path: path.read_text() for path in (ROOT / "new_fastapi").rglob("*.py")}
    assert any("flask_compat" in imported_modules(path) for path in sources)
    for path, source in sources.items():
        # No Jinja environment or url_for of its own: the compat logic lives in flask_compat.
        assert "Jinja2Templates" not in source and "jinja2.Environment(" not in source, path
        assert "url_path_for" not in source, path


def test_flask_compat_imports_no_app_of_this_project() -> None:
    forbidden = {"legacy_flask", "new_fastapi", "notes_core", "gateway"}
    for path in (ROOT / "flask_compat").rglob("*.py"):
        used = {name.split(".")[0] for name in imported_modules(path)}
        assert not used & forbidden, path


def test_neither_app_imports_the_gateway() -> None:
    for package in ("legacy_flask", "new_fastapi"):
        for path in (ROOT / package).rglob("*.py"):
            assert not any(n.split(".")[0] == "gateway" for n in imported_modules(path)), path


def test_importing_new_fastapi_does_not_load_the_flask_app() -> None:
    code = (
        "import sys, new_fastapi; new_fastapi.create_app; "
        "assert 'legacy_flask.app' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_the_shared_core_imports_no_web_framework_and_no_app() -> None:
    forbidden = {"flask", "fastapi", "starlette", "legacy_flask", "new_fastapi", "gateway"}
    for path in (ROOT / "notes_core").rglob("*.py"):
        used = {name.split(".")[0] for name in imported_modules(path)}
        assert not used & forbidden, path
