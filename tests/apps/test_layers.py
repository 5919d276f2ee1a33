"""new_fastapi takes only templates, static files and filters from legacy_flask."""

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
