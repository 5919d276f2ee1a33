"""Routes and flags: ``routes``, ``flags``, ``flip``."""

from __future__ import annotations

from typing import Annotated

import redis
import typer
from rich.table import Table

from gateway.cli.common import (
    CliError,
    TokenOption,
    UrlOption,
    admin_request,
    app,
    err,
    fail,
    load_settings,
    local_flags,
    local_rules,
    out,
    redis_client,
)
from gateway.flags import FlagError, parse_flag
from gateway.flagstore.redis import flip_sync
from gateway.flips import FlipRefused


@app.command()
def routes(url: UrlOption = None, token: TokenOption = None) -> None:
    """Print the route table: rule, methods, endpoint, implemented by new, flag, group."""
    try:
        settings = load_settings()
        if url:
            rows = admin_request(settings, url, token, "GET", "/routes")["routes"]
        else:
            rows = local_rules(settings).rows(local_flags(settings))
    except CliError as exc:
        fail(str(exc))
    grid = Table("rule", "methods", "endpoint", "new?", "flag", "group")
    for row in rows:
        implemented = "yes" if row["implemented"] else ("partly" if row["new_methods"] else "no")
        if row["origin"] == "new":
            implemented = "only"
        grid.add_row(
            row["rule"],
            ",".join(row["methods"]),
            row["endpoint"],
            implemented,
            row["flag"],
            row["group"] or "",
        )
    out.print(grid)


@app.command()
def flags(url: UrlOption = None, token: TokenOption = None) -> None:
    """Print the flag table and its version."""
    try:
        settings = load_settings()
        if url:
            data = admin_request(settings, url, token, "GET", "/flags")
            version, texts, source = data["version"], data["flags"], data["source"]
        else:
            table = local_flags(settings)
            version, texts, source = table.version, table.as_texts(), table.source
    except CliError as exc:
        fail(str(exc))
    out.print(f"version {version} ({source}); every other route: {settings.default_flag}")
    for key, text in sorted(texts.items()):
        out.print(f"  {key}: {text}", highlight=False)


@app.command()
def flip(
    route: Annotated[
        str, typer.Argument(help="Legacy endpoint (e.g. webapp.create_note) or group")
    ],
    flag: Annotated[str, typer.Argument(help="legacy | new | shadow | 'canary 12.5'")],
    url: UrlOption = None,
    token: TokenOption = None,
    check: Annotated[
        bool, typer.Option(help="Without --url: load the apps to check the route name")
    ] = True,
) -> None:
    """Set one route's (or group's) flag, via a running gateway or directly in Redis."""
    try:
        settings = load_settings()
        parsed = parse_flag(flag)
        if url:
            data = admin_request(
                settings, url, token, "PUT", f"/flags/{route}", json={"flag": flag}
            )
            version, warnings = data["version"], data.get("warnings", [])
        else:
            client = redis_client(settings)
            warnings = []
            if check:
                local_rules(settings).endpoints_for(route)
            try:
                version = flip_sync(client, settings.flag_key, settings.flag_channel, route, parsed)
            except redis.RedisError as exc:
                raise CliError(f"flag not changed: Redis at {settings.redis_url}: {exc}") from exc
    except (CliError, FlagError, FlipRefused) as exc:
        fail(str(exc))
    out.print(f"{route} -> {parsed} (flags version {version})", highlight=False)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
