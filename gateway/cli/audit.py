"""``audit``: who changed which flag, when, from what to what, and why."""

from __future__ import annotations

from typing import Annotated, Any

import redis
import typer

from gateway.audit import audit_key, read_recent_sync
from gateway.cli.common import (
    CliError,
    JsonOption,
    TokenOption,
    UrlOption,
    admin_request,
    app,
    fail,
    load_settings,
    out,
    redis_client,
)
from gateway.cli.output import describe_source, emit_json, print_table, source_of


@app.command()
def audit(
    url: UrlOption = None,
    token: TokenOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many entries")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Print the audit trail of flag changes, newest first.

    With --url from the running gateway's admin API; otherwise from Redis
    (GATEWAY_REDIS_URL), where every gateway keeps it.
    """
    try:
        settings = load_settings()
        source = source_of(settings, url)
        if url:
            entries: list[dict[str, Any]] = admin_request(
                settings, url, token, "GET", "/audit", params={"limit": limit}
            )["entries"]
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
            source |= {"audit_key": key}
    except CliError as exc:
        fail(str(exc), as_json)
    if as_json:
        emit_json({"source": source, "entries": entries})
        return
    typer.echo(describe_source(source))
    rows = [
        [
            entry["time"],
            entry["actor"],
            entry["via"],
            entry["target"],
            f"{entry['old_flag']} -> {entry['new_flag']}",
            str(entry["version"]),
            entry["reason"],
        ]
        for entry in entries
    ]
    print_table(out, AUDIT_HEADERS, rows, keep="target")


AUDIT_HEADERS = ("time", "actor", "via", "target", "change", "version", "reason")
