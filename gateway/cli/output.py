"""How ``migrate-gateway`` prints: JSON for scripts, tables that never cut a
name, and a line saying where the figures come from.

A table goes to a terminal as a rich table whose endpoint column is as wide as
its longest name (never wrapped or cropped); anywhere else (a pipe, a file, a
test) as plain aligned text, one row per line, whatever ``COLUMNS`` says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gateway.settings import GatewaySettings, config_file_name
from shared_session.redis_connect import describe_redis_url


def emit_json(data: Any) -> None:
    """One JSON document on stdout (never wrapped, never coloured)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def redact_url(url: str) -> str:
    """``redis://:secret@host:6379/0`` -> ``redis://:***@host:6379/0`` (Sentinel
    and Cluster URLs with several hosts too)."""
    return describe_redis_url(url)


def source_of(settings: GatewaySettings, url: str | None) -> dict[str, Any]:
    """Where a command reads from (or writes to), as data."""
    if url:
        return {
            "kind": "gateway",
            "url": url.rstrip("/"),
            "admin": url.rstrip("/") + settings.admin_prefix.rstrip("/"),
        }
    return {
        "kind": "settings",
        "config_file": config_file_name(),
        "redis_url": redact_url(settings.redis_url) if settings.redis_url else None,
        "flag_key": settings.flag_key if settings.redis_url else None,
    }


def describe_source(source: dict[str, Any]) -> str:
    """The one line a human reads first."""
    if source["kind"] == "gateway":
        return f"source: the running gateway at {source['url']} (admin API {source['admin']})"
    where = "local settings (GATEWAY_* environment"
    where += f", file {source['config_file']})" if source["config_file"] else ")"
    if source["redis_url"]:
        return (
            f"source: {where}; flags in Redis {source['redis_url']} key {source['flag_key']}, "
            "the table every gateway on it serves"
        )
    return (
        f"source: {where}; no Redis, so these are the configured flags, not necessarily what "
        "a running gateway serves (pass --url to ask one)"
    )


def print_table(
    console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]], *, keep: str
) -> None:
    """Rows under headers; the column named ``keep`` is never wrapped nor cut."""
    if not console.is_terminal:
        typer.echo(plain_table(headers, rows))
        return
    console.print(rich_table(headers, rows, keep=keep), soft_wrap=False)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns separated by two spaces, nothing cut, no trailing blanks."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def rich_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, keep: str) -> Table:
    """A rich table whose ``keep`` column is as wide as its widest cell; the others
    fold (wrap inside their cell) when the terminal is narrow."""
    table = Table(*[], show_lines=False)
    keep_index = list(headers).index(keep)
    for i, header in enumerate(headers):
        if i == keep_index:
            widest = max([len(header), *(len(row[i]) for row in rows)])
            table.add_column(header, no_wrap=True, min_width=widest, overflow="ignore")
        else:
            table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table
