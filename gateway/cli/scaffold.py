"""``scaffold``: write a FastAPI router module for a Flask blueprint (flask_compat.scaffold)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import app, err, fail
from gateway.cli.routefile import AppDirOption, load_from_dir
from gateway.loading import AppLoadError


def find_ruff() -> list[str] | None:
    """The ruff next to this Python, else on PATH, else None."""
    local = Path(sys.executable).parent / "ruff"
    if local.exists():
        return [str(local)]
    found = shutil.which("ruff")
    return [found] if found else None


def tidy(source: str, filename: str, ruff: list[str] | None) -> str:
    """Sort imports, drop unused noqa directives and format with ``ruff``, under the
    project's own ruff settings (found from ``filename``); without ruff, the source as is."""
    if ruff is None:
        return source
    fix = ["check", "--extend-select", "I,RUF100", "--fix-only", "--quiet"]
    for args in (["format", "--quiet"], fix):
        done = subprocess.run(
            [*ruff, *args, "--stdin-filename", filename, "-"],
            input=source,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode == 0 and done.stdout:
            source = done.stdout
    return source


@app.command()
def scaffold(
    flask_app: Annotated[
        str, typer.Option("--app", help="Import string of the Flask app, e.g. 'blog:create_app()'")
    ],
    blueprint: Annotated[
        str | None,
        typer.Option("--blueprint", "-b", help="Blueprint name (default: the app's own routes)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
    convert: Annotated[
        bool,
        typer.Option(
            "--convert",
            help="Rewrite the view bodies (request.args/form, session, redirect, url_for, "
            "jsonify, abort, flash); what cannot be converted answers 501",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists")] = False,
    app_dir: AppDirOption = Path("."),
) -> None:
    """Write a FastAPI APIRouter module for one blueprint of a Flask app: each rule with
    its path and typed path parameters, methods and the Flask endpoint as route name."""
    from flask_compat.scaffold import ScaffoldError, scaffold_module

    if output is not None and output.exists() and not force:
        fail(f"{output} exists; pass --force to overwrite it")
    ruff = find_ruff()
    try:
        loaded = load_from_dir(flask_app, app_dir)
        # With ruff, long lines are marked for E501 and ruff drops the mark where the
        # project does not enable E501; without, no mark (ruff's defaults flag it, RUF100).
        source = scaffold_module(loaded, blueprint, convert=convert, noqa_long_lines=bool(ruff))
    except (AppLoadError, ScaffoldError) as exc:
        fail(str(exc))
    name = str(output.resolve()) if output is not None else "scaffold.py"
    text = tidy(source, name, ruff)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)
    if ruff is None:
        err.print(
            "ruff not found (next to this Python or on PATH): the module is not formatted; "
            f"run `ruff format {output or '<file>'}` on it",
            highlight=False,
            soft_wrap=True,
        )
