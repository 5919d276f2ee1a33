"""``shadow``: how the new app's replays compare with legacy, and the latest diffs."""

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
    fail,
    load_settings,
    out,
    redis_client,
)
from gateway.cli.output import describe_source, emit_json, print_table, source_of
from gateway.shadowstats import read_sync


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def read_stats(url: str | None, token: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(source, statistics): from a running gateway, or from Redis directly."""
    settings = load_settings()
    source = source_of(settings, url)
    if url:
        stats = admin_request(settings, url, token, "GET", "/shadow")["shadow"]
        if stats is None:
            raise CliError(f"the gateway at {url} runs no shadow replays")
        return source, stats
    if not settings.redis_url:
        raise CliError(
            "without Redis the shadow statistics live in the gateway's memory: "
            "pass --url to ask the running gateway"
        )
    try:
        stats = read_sync(
            redis_client(settings), settings.shadow_stats_key, settings.shadow_samples
        )
    except (redis.RedisError, OSError) as exc:
        raise CliError(f"cannot read shadow statistics from Redis: {exc}") from exc
    return source | {"shadow_key": settings.shadow_stats_key}, stats


@app.command()
def shadow(
    url: UrlOption = None,
    token: TokenOption = None,
    diffs: Annotated[int, typer.Option(help="How many of the latest mismatches to show")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Shadow statistics of every worker: replays, match rate per route, drops by
    reason, and the latest mismatches with their diffs."""
    try:
        source, stats = read_stats(url, token)
    except CliError as exc:
        fail(str(exc), as_json)
    if as_json:
        emit_json({"source": source, "shadow": stats})
        return
    typer.echo(describe_source(source))
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items())
    typer.echo(
        f"replayed {stats['replayed']}, match rate {percent(stats['match_rate'])}, "
        f"not sampled {stats['not_sampled']}, dropped {stats['dropped_total']} ({dropped})"
    )
    rows = [
        [
            route,
            str(figures["replayed"]),
            str(figures["matched"]),
            str(figures["mismatched"]),
            percent(figures["match_rate"]),
        ]
        for route, figures in stats["routes"].items()
    ]
    if rows:
        headers = ("route", "replayed", "matched", "mismatched", "match rate")
        print_table(out, headers, rows, keep="route")
    for sample in stats["samples"][: max(diffs, 0)]:
        query = f"?{sample['query']}" if sample.get("query") else ""
        typer.echo(f"\n{sample['method']} {sample['path']}{query} ({sample['route']}): ")
        typer.echo("  " + "; ".join(sample["differences"]))
        first = sample.get("first_difference")
        if first and "line" in first:
            typer.echo(f"  first difference at line {first['line']}, column {first['column']}")
        if sample.get("diff"):
            typer.echo(sample["diff"])
