"""Routes and flags: ``routes``, ``flags``, ``flip``."""

from __future__ import annotations

from typing import Annotated, Any

import redis
import typer

from gateway.cli.common import (
    CliError,
    JsonOption,
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
from gateway.cli.output import describe_source, emit_json, print_table, source_of
from gateway.flags import FlagError, parse_flag
from gateway.flagstore.redis import flip_sync
from gateway.flips import FlipRefused

ROUTE_HEADERS = ("endpoint", "flag", "new?", "group", "methods", "rule")


def implemented_text(row: dict[str, Any]) -> str:
    """yes / partly / no for a legacy route, only for a route of the new app alone."""
    if row["origin"] == "new":
        return "only"
    return "yes" if row["implemented"] else ("partly" if row["new_methods"] else "no")


@app.command()
def routes(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Print the route table: endpoint (the name `flip` takes), flag, implemented by
    the new app, group, methods, rule. Endpoint names are never cut."""
    try:
        settings = load_settings()
        if url:
            rows = admin_request(settings, url, token, "GET", "/routes")["routes"]
        else:
            rows = local_rules(settings).rows(local_flags(settings))
    except CliError as exc:
        fail(str(exc), as_json)
    source = source_of(settings, url)
    if as_json:
        emit_json({"source": source, "routes": rows})
        return
    typer.echo(describe_source(source))
    cells = [
        [
            row["endpoint"],
            row["flag"],
            implemented_text(row),
            row["group"] or "",
            ",".join(row["methods"]),
            row["rule"],
        ]
        for row in rows
    ]
    print_table(out, ROUTE_HEADERS, cells, keep="endpoint")


@app.command()
def flags(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Print the flag table and its version, and where it was read."""
    try:
        settings = load_settings()
        if url:
            data = admin_request(settings, url, token, "GET", "/flags")
            version, texts, source_name = data["version"], data["flags"], data["source"]
            default = data.get("default", settings.default_flag)
        else:
            table = local_flags(settings)
            version, texts, source_name = table.version, table.as_texts(), table.source
            default = str(table.default)
    except CliError as exc:
        fail(str(exc), as_json)
    source = source_of(settings, url)
    if as_json:
        emit_json(
            {
                "source": source,
                "version": version,
                "table_source": source_name,
                "default": default,
                "flags": texts,
            }
        )
        return
    typer.echo(describe_source(source))
    typer.echo(f"version {version} ({source_name}); every other route: {default}")
    for key, text in sorted(texts.items()):
        typer.echo(f"  {key}: {text}")


@app.command()
def flip(
    route: Annotated[str, typer.Argument(help="Legacy endpoint (e.g. notes.create) or group")],
    flag: Annotated[str, typer.Argument(help="legacy | new | shadow | 'canary 12.5'")],
    url: UrlOption = None,
    token: TokenOption = None,
    check: Annotated[
        bool, typer.Option(help="Without --url: load the apps to check the route name")
    ] = True,
    as_json: JsonOption = False,
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
        fail(str(exc), as_json)
    source = source_of(settings, url)
    if as_json:
        emit_json(
            {
                "source": source,
                "key": route,
                "flag": str(parsed),
                "version": version,
                "warnings": warnings,
            }
        )
        return
    typer.echo(describe_source(source))
    typer.echo(f"{route} -> {parsed} (flags version {version})")
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, markup=True)
