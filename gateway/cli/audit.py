"""``audit``: who changed which flag, when, from what to what, and why."""

from __future__ import annotations

import json
from typing import Annotated, Any

import redis
import typer
from rich.table import Table

from gateway.audit import audit_key, read_recent_sync
from gateway.cli.common import (
    CliError,
    TokenOption,
    UrlOption,
    admin_request,
    app,
    err,
    fail,
    load_settings,
    out,
    redis_client,
)


@app.command()
def audit(
    url: UrlOption = None,
    token: TokenOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many entries")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the audit trail of flag changes, newest first.

    With --url from the running gateway's admin API; otherwise from Redis
    (GATEWAY_REDIS_URL), where every gateway keeps it.
    """
    try:
        settings = load_settings()
        if url:
            entries: list[dict[str, Any]] = admin_request(
                settings, url, token, "GET", "/audit", params={"limit": limit}
            )["entries"]
            source = f"gateway at {url}"
        else:
            if not settings.redis_url:
                raise CliError(
                    "no GATEWAY_REDIS_URL set: without Redis the audit trail lives in the gateway "
                    "process; pass --url to read it from there"
                )
            key = audit_key(settings.flag_key)
            try:
                found = read_recent_sync(redis_client(settings), key, limit)
            except redis.RedisError as exc:
                raise CliError(f"cannot read the audit trail from Redis: {exc}") from exc
            entries = [e.as_dict() for e in found]
            source = f"Redis at {settings.redis_url} ({key})"
    except CliError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"source": source, "entries": entries}, indent=2))
        return
    err.print(f"audit trail from {source}", highlight=False)
    grid = Table("time", "actor", "via", "target", "change", "version", "reason")
    for entry in entries:
        grid.add_row(
            entry["time"],
            entry["actor"],
            entry["via"],
            entry["target"],
            f"{entry['old_flag']} -> {entry['new_flag']}",
            str(entry["version"]),
            entry["reason"],
        )
    out.print(grid)
