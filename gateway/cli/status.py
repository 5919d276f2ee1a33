"""``status``: parity and progress of the port, route by route (gateway/parity.py)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gateway.cli.common import (
    CliError,
    TokenOption,
    UrlOption,
    admin_request,
    app,
    fail,
    load_settings,
    local_flags,
    local_rules,
    out,
)
from gateway.cli.output import describe_source, print_table, source_of
from gateway.parity import build_report

JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON")]


@app.command()
def status(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Totals and per-route parity: implemented in new (name, path, methods and
    parameter names agree), disagreements, flags and shadow match rate.

    With --url the report comes from a running gateway (GET <admin prefix>/status,
    shadow stats included); without, from the configured apps and flags.
    """
    try:
        settings = load_settings()
        if url:
            report: dict[str, Any] = admin_request(settings, url, token, "GET", "/status")
        else:
            rules = local_rules(settings)
            report = build_report(
                rules.routes.legacy_rules,
                rules.routes.new_routes,
                local_flags(settings),
                rules.groups,
            ).as_dict()
    except CliError as exc:
        fail(str(exc), as_json)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    typer.echo(describe_source(source_of(settings, url)))
    print_report(report)


STATUS_HEADERS = ("endpoint", "rule", "methods", "new", "flag", "shadow", "disagreements")


def print_report(report: dict[str, Any]) -> None:
    """The totals on one line, then one row per legacy rule: never cut (gateway.cli.output)."""
    totals = report["totals"]
    flagged = ", ".join(f"{k} {v}" for k, v in totals["flagged"].items())
    rate = totals["shadow"]["match_rate"]
    typer.echo(
        f"{totals['implemented']}/{totals['legacy_routes']} legacy routes implemented in new "
        f"({totals['progress']:.0%}); {totals['disagrees']} disagree, {totals['missing']} missing; "
        f"flags: {flagged}; new-only routes: {totals['new_only']}; shadow match rate: "
        + (f"{rate:.1%}" if rate is not None else "n/a")
    )
    rows = []
    for row in report["routes"]:
        shadow = row["shadow_match_rate"]
        rows.append(
            [
                row["endpoint"],
                row["rule"],
                ",".join(row["methods"]),
                row["state"],
                row["flag"],
                f"{shadow:.0%}" if shadow is not None else "",
                "; ".join(row["disagreements"]),
            ]
        )
    print_table(out, STATUS_HEADERS, rows, keep="endpoint")
