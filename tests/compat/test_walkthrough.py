"""docs/flask-compat.md's "port your first route" runs as written: each block is saved
under the name on its first line and check.py runs, in a fresh process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "flask-compat.md"
# A fenced block whose first line names its file: "# file: x.py", "{# file: x.html #}"...
BLOCK = re.compile(
    r"```\w+\n(?:#|\{#|/\*) file: (?P<path>\S+)(?: #\}| \*/)?\n(?P<code>.*?)```", re.DOTALL
)


def walkthrough_files() -> dict[str, str]:
    return {m["path"]: m["code"] for m in BLOCK.finditer(DOC.read_text())}


def test_the_walkthrough_names_its_files() -> None:
    assert list(walkthrough_files()) == [
        "flaskblog.py",
        "templates/base.html",
        "templates/blog/index.html",
        "static/site.css",
        "fastapiblog.py",
        "check.py",
    ]


def test_the_walkthrough_runs_as_written(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    for name, code in walkthrough_files().items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    # As a user runs it: the project installed, the walkthrough's folder as the cwd.
    env = {**os.environ, "REDIS_URL": redis_url, "SHARED_SESSION_KEY_PREFIX": key_prefix}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "check.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "HELLO &lt;WORLD&gt;!" in result.stdout
