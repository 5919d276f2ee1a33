"""How much a person wrote to port pubblog's routes: Flask view lines against the lines
they added to the scaffold's output (and the small modules they wrote whole).

``python -m tests.port.linecount`` prints the figures docs/migration-guide.md quotes.
"""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path

from flask_compat.scaffold import scaffold_module
from gateway.cli.scaffold import find_ruff, tidy
from tests.port import pubblog

PORT = Path(__file__).parent / "pubblog_port"
# Ported endpoint -> (blueprint, module of the port).
PORTED = {
    "blog.index": "blog",
    "blog.show": "blog",
    "blog.create": "blog",
    "blog.comment": "blog",
    "auth.logout": "auth",
}
WRITTEN_WHOLE = ("app.py",)  # no scaffold behind it


def _code_lines(text: str) -> list[str]:
    """Non-blank lines that are not comments."""
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def flask_view_lines() -> int:
    app = pubblog.create_app()
    total = 0
    for endpoint in PORTED:
        view = inspect.unwrap(app.view_functions[endpoint])
        total += len(_code_lines(inspect.getsource(view)))
    return total


def user_lines() -> dict[str, int]:
    """Lines added to the scaffold's output, per port module, and the modules written whole."""
    app = pubblog.create_app()
    counts: dict[str, int] = {}
    for blueprint in sorted(set(PORTED.values())):
        path = PORT / f"{blueprint}.py"
        source = scaffold_module(app, blueprint, convert=True, noqa_long_lines=True)
        scaffolded = tidy(source, str(path), find_ruff())
        edited = path.read_text(encoding="utf-8")
        diff = difflib.ndiff(_code_lines(scaffolded), _code_lines(edited))
        counts[f"{blueprint}.py"] = sum(1 for line in diff if line.startswith("+ "))
    for name in WRITTEN_WHOLE:
        counts[name] = len(_code_lines((PORT / name).read_text(encoding="utf-8")))
    return counts


def summary() -> str:
    counts = user_lines()
    detail = ", ".join(f"{name} {n}" for name, n in counts.items())
    return (
        f"Flask view lines of the {len(PORTED)} ported routes: {flask_view_lines()}; "
        f"lines written by hand for them: {sum(counts.values())} ({detail})"
    )


if __name__ == "__main__":
    print(summary())
