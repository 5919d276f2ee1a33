"""The documentation as data: fenced code blocks, shell commands, inline code spans.

Every page is README.md plus docs/*.md, found by globbing, so a page added later is
checked without editing a list. A value written as ``<something>`` is a placeholder
the reader fills in: it is checked for its name, never for its value.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^(```+)([\w+-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.DOTALL)
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced code block: its page, first line number, language and text."""

    page: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start()) + 2, m.group(2).lower(), m.group(3))
        for m in FENCE.finditer(text)
    ]


def all_blocks(*langs: str) -> list[Block]:
    return [b for p in pages() for b in blocks(p) if not langs or b.lang in langs]


def prose(page: Path) -> str:
    """The page without its fenced blocks (inline code stays)."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def inline_spans(page: Path) -> list[str]:
    return INLINE.findall(prose(page))


@dataclass
class Command:
    """One shell command line: environment assignments, then the words it runs."""

    env: dict[str, str]
    words: list[str]
    background: bool = False
    exported: dict[str, str] = field(default_factory=dict)

    @property
    def program(self) -> str:
        """The program's name (``.venv/bin/gunicorn`` is ``gunicorn``)."""
        first = self.words[0] if self.words else ""
        return first.rsplit("/", 1)[1] if first.startswith((".venv/bin/", "$VENV/bin/")) else first


def is_placeholder(value: str) -> bool:
    return bool(PLACEHOLDER.search(value))


def is_dynamic(value: str) -> bool:
    """A value the shell computes (``$(...)``, ``$VAR``): not checked literally."""
    return "$" in value


def console_commands(text: str) -> str:
    """The commands of a ``console`` block: its ``$ `` lines (and their continuations);
    the other lines are the output shown."""
    lines, continued = [], False
    for line in text.splitlines():
        if line.startswith("$ ") or continued:
            lines.append(line.removeprefix("$ "))
            continued = line.endswith("\\")
    return "\n".join(lines) + "\n"


def shell_commands(text: str, lang: str = "sh") -> list[Command]:
    """The commands of a shell block (``\\`` continuations joined, comments dropped).

    ``export A=1`` lines come back as commands with no words and ``exported`` set.
    Raises ValueError for a line the shell itself could not split.
    """
    if lang == "console":
        text = console_commands(text)
    joined = re.sub(r"\\\n", " ", text)
    commands = []
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        # A pipeline or a list: the first command is ours; filters after it (jq,
        # grep) are the reader's.
        for i, word in enumerate(words):
            if word in ("|", "&&", "||", ";"):
                words = words[:i]
                break
        background = bool(words) and words[-1] == "&"
        if background:
            words = words[:-1]
        env: dict[str, str] = {}
        exported: dict[str, str] = {}
        if words[:1] == ["export"]:
            for word in words[1:]:
                name, _, value = word.partition("=")
                exported[name] = value
            commands.append(Command({}, [], background, exported))
            continue
        while words and (m := ASSIGNMENT.match(words[0])):
            env[m.group(1)] = m.group(2)
            words = words[1:]
        commands.append(Command(env, words, background))
    return commands


def option_value(words: list[str], *names: str) -> str | None:
    """The value of the first of ``names`` in ``words`` (``--x v`` or ``--x=v``)."""
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None
