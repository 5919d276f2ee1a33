"""How a shadow replay is compared with the legacy answer: pure functions.

Both bodies are first put in a canonical text form (JSON sorted and indented,
HTML with layout whitespace collapsed and one tag per line, other text as
is), then the configured normalisers (named regular expressions) replace
what differs on every render: CSRF tokens, timestamps, request ids. Two
answers match when status, content type and normalised body agree; two
redirects match when status and target agree. A mismatch comes with where
it starts and a bounded unified diff of the normalised bodies.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Named defaults; settings.shadow_normalisers adds to them, or turns one off
# with an empty pattern. Each match is replaced by "<name>".
DEFAULT_NORMALISERS: dict[str, str] = {
    # A form field or meta tag carrying a CSRF token (the whole tag), and a
    # JSON member whose key mentions csrf.
    "csrf": r'<(?:input|meta)\b[^>]*csrf[^>]*>|"[^"\n]*csrf[^"\n]*"\s*:\s*"[^"\n]*"',
    # ISO 8601 date-times and dates, HTTP / RFC 2822 dates.
    "timestamp": (
        r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        r"|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} "
        r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \w+"
    ),
    # UUIDs and the gateway's own 32-hex-digit request ids.
    "request_id": (
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        r"|\b[0-9a-f]{32}\b"
    ),
}
DIFF_CONTEXT_LINES = 3

_SPACES = re.compile(r"\s+")
_BETWEEN_TAGS = re.compile(r">\s*<")


class NormaliserError(ValueError):
    """A configured normaliser whose pattern is not a valid regular expression."""


@dataclass(frozen=True, slots=True)
class Normalisers:
    """Compiled, ordered (name, pattern) pairs; each match becomes ``<name>``."""

    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def build(cls, configured: Mapping[str, str | None] | None = None) -> Normalisers:
        """The defaults, with ``configured`` added (or a default replaced, or turned
        off by an empty or null pattern). Raises NormaliserError naming a bad one."""
        merged: dict[str, str | None] = {**DEFAULT_NORMALISERS, **(configured or {})}
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for name, pattern in merged.items():
            if not pattern:
                continue
            try:
                compiled.append((name, re.compile(pattern)))
            except re.error as exc:
                raise NormaliserError(
                    f"shadow normaliser {name!r} is not a valid regular expression: {exc}"
                ) from None
        return cls(tuple(compiled))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.patterns]

    def apply(self, text: str) -> str:
        for name, pattern in self.patterns:
            text = pattern.sub(f"<{name}>", text)
        return text


@dataclass
class Recorded:
    """One side's answer, as far as the comparison needs it."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    too_big: bool = False

    def header(self, name: bytes) -> str:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return ""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """What differs between two answers: short reasons, where the normalised
    bodies first differ (1-based line and column, with both lines) and their
    unified diff, both empty when the bodies agree or are not text."""

    differences: list[str]
    first_difference: dict[str, Any] | None = None
    diff: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "differences": self.differences,
            "first_difference": self.first_difference,
            "diff": self.diff,
        }


def normalise_content_type(value: str) -> str:
    """``Text/HTML ; charset=UTF-8`` -> ``text/html;charset=utf-8``."""
    return ";".join(part.strip() for part in value.lower().split(";") if part.strip())


def canonical_text(content_type: str, body: bytes) -> str | None:
    """The body as comparable text (see the module doc), or None when it is not text."""
    kind = normalise_content_type(content_type).split(";")[0]
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return json.dumps(json.loads(body), sort_keys=True, indent=1, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass  # not valid JSON after all: compare it as text
    if kind.startswith("text/") or kind.endswith(("json", "xml", "javascript")):
        text = body.decode("utf-8", "replace")
        if "html" in kind or "xml" in kind:
            # Layout whitespace does not count; one tag per line keeps the diff readable.
            text = _BETWEEN_TAGS.sub(">\n<", _SPACES.sub(" ", text).strip())
        return text
    return None


def normalise_body(
    content_type: str, body: bytes, normalisers: Normalisers | None = None
) -> str | bytes:
    """What is compared: canonical text with the normalisers applied, or the raw
    bytes of a body that is not text."""
    text = canonical_text(content_type, body)
    if text is None:
        return bytes(body)
    return (normalisers or DEFAULTS).apply(text)


def first_difference(legacy: str, new: str) -> dict[str, Any]:
    """1-based line and column where two texts first differ, with both lines (cut to 200)."""
    legacy_lines, new_lines = legacy.split("\n"), new.split("\n")
    for number in range(max(len(legacy_lines), len(new_lines))):
        a = legacy_lines[number] if number < len(legacy_lines) else ""
        b = new_lines[number] if number < len(new_lines) else ""
        if a != b or number >= min(len(legacy_lines), len(new_lines)):
            column = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            if column is None:
                column = min(len(a), len(b))
            start = max(0, column - 40)
            return {
                "line": number + 1,
                "column": column + 1,
                "legacy": a[start : start + 200],
                "new": b[start : start + 200],
            }
    return {"line": 0, "column": 0, "legacy": "", "new": ""}


def unified_diff(legacy: str, new: str, max_chars: int) -> str:
    """``diff -u`` of two normalised bodies, cut after ``max_chars`` characters."""
    lines = difflib.unified_diff(
        legacy.split("\n"),
        new.split("\n"),
        "legacy",
        "new",
        n=DIFF_CONTEXT_LINES,
        lineterm="",
    )
    out: list[str] = []
    used = 0
    for line in lines:
        line = line if len(line) <= 500 else line[:500] + "..."
        if used + len(line) + 1 > max_chars:
            out.append("... (diff cut here)")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def compare(
    legacy: Recorded,
    new: Recorded,
    normalisers: Normalisers | None = None,
    *,
    diff_max_chars: int = 0,
) -> Mismatch | None:
    """None when the answers match, else what differs. With ``diff_max_chars``
    a body difference also gets its first position and a unified diff."""
    normalisers = normalisers or DEFAULTS
    differences: list[str] = []
    if legacy.status != new.status:
        differences.append(f"status {legacy.status} != {new.status}")
    if 300 <= legacy.status < 400:
        # A redirect's body and its content type are boilerplate (Flask's
        # redirect() sends an HTML page, Starlette's RedirectResponse none);
        # where it points is the answer.
        if _location(legacy) != _location(new):
            differences.append(f"location {_location(legacy)!r} != {_location(new)!r}")
        return Mismatch(differences) if differences else None
    legacy_type = normalise_content_type(legacy.header(b"content-type"))
    new_type = normalise_content_type(new.header(b"content-type"))
    if legacy_type != new_type:
        differences.append(f"content-type {legacy_type!r} != {new_type!r}")
    legacy_body = normalise_body(legacy_type, bytes(legacy.body), normalisers)
    new_body = normalise_body(new_type, bytes(new.body), normalisers)
    if legacy_body == new_body:
        return Mismatch(differences) if differences else None
    differences.append("body")
    if not diff_max_chars:
        return Mismatch(differences)
    if isinstance(legacy_body, bytes) or isinstance(new_body, bytes):
        a = legacy_body if isinstance(legacy_body, bytes) else legacy_body.encode()
        b = new_body if isinstance(new_body, bytes) else new_body.encode()
        offset = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        offset = min(len(a), len(b)) if offset is None else offset
        where = {"byte": offset, "legacy_length": len(a), "new_length": len(b)}
        return Mismatch(differences, where, "")
    return Mismatch(
        differences,
        first_difference(legacy_body, new_body),
        unified_diff(legacy_body, new_body, diff_max_chars),
    )


def _location(answer: Recorded) -> str:
    location = answer.header(b"location")
    # Absolute or relative, only where it points on this site matters.
    return re.sub(r"^https?://[^/]+", "", location)


DEFAULTS = Normalisers.build()
