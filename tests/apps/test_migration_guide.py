"""docs/migration-guide.md and the code agree: every excerpt is copied from its file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migration-guide.md"
BLOCK = re.compile(r"```python\n# (?P<path>\S+\.py)\n(?P<code>.*?)```", re.DOTALL)


def excerpts() -> list[tuple[str, str]]:
    return [(m["path"], m["code"]) for m in BLOCK.finditer(GUIDE.read_text())]


def test_the_guide_has_excerpts() -> None:
    assert len(excerpts()) >= 15


@pytest.mark.parametrize(("path", "code"), excerpts(), ids=[p for p, _ in excerpts()])
def test_excerpt_is_in_its_file(path: str, code: str) -> None:
    source = (ROOT / path).read_text()
    assert code in source, f"the excerpt from {path} no longer matches the code"
