"""The benchmark commands docs/benchmarks-gateway.md and the Makefile give are real.

Every ``bench/<script>.py`` command line must name a script that exists, and
every ``--option`` on it must be one that script's argument parser knows
(read from its ``--help``). Running the benchmarks themselves takes minutes
and a quiet machine, so they are not run here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"(?:\.venv/bin/python|\$\(PY\)) (bench/\w+\.py)([^\n`]*)")


def commands() -> list[tuple[str, str, list[str]]]:
    found = []
    for source in ("docs/benchmarks-gateway.md", "Makefile"):
        for match in COMMAND.finditer((ROOT / source).read_text()):
            options = re.findall(r"(--[a-z][a-z-]*)", match.group(2))
            found.append((source, match.group(1), options))
    return found


def test_the_docs_give_benchmark_commands() -> None:
    scripts = {script for _, script, _ in commands()}
    assert {"bench/paths_bench.py", "bench/upstream_bench.py"} <= scripts


@pytest.mark.parametrize(("source", "script", "options"), commands())
def test_benchmark_command_is_real(source: str, script: str, options: list[str]) -> None:
    assert (ROOT / script).is_file(), f"{source}: {script} does not exist"
    shown = subprocess.run(
        [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    known = set(re.findall(r"(--[a-z][a-z-]*)", shown.stdout))
    assert set(options) <= known, f"{source}: {script} has no {set(options) - known}"
