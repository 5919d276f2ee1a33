"""Routes and flags: ``routes``, ``flags``, ``flip``."""

from __future__ import annotations

import re
from typing import Annotated, Any

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
)
from gateway.cli.local_flips import flip_locally, rules_for
from gateway.cli.output import describe_source, emit_json, print_table, source_of
from gateway.flags import FlagError, parse_flag
from gateway.flagstore import FlagStoreUnavailable
from gateway.flipping import matching_keys
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


GLOB_CHARS = frozenset("*?[")
_PERCENT = re.compile(r"\s*[0-9]+(?:\.[0-9]+)?\s*%?\s*")


def canary_words(names: list[str], flag: str) -> str:
    """``flip 'auth.*' canary 5`` unquoted: the shell gives "canary" and "5" as two
    words, the last of which is the flag; join them (taking "canary" off ``names``)."""
    if names and names[-1].lower() == "canary" and _PERCENT.fullmatch(flag):
        names.pop()
        return f"canary {flag}"
    return flag


def bulk_request(targets: list[str], all_routes: bool) -> tuple[list[str], str | None]:
    """(named keys, glob pattern or None) of a flip; raises CliError when unclear."""
    patterns = [t for t in targets if GLOB_CHARS & set(t)]
    names = [t for t in targets if t not in patterns]
    if all_routes:
        if targets:
            raise CliError("--all flips every route and group: name no route with it")
        return [], "*"
    if len(patterns) > 1:
        raise CliError(f"one pattern per flip, got {', '.join(patterns)}")
    if not targets:
        raise CliError("name a route, a group or a pattern such as 'auth.*', or pass --all")
    return names, patterns[0] if patterns else None


@app.command()
def flip(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Legacy endpoints (e.g. webapp.create_note), groups, or one quoted pattern "
            "such as 'auth.*'",
            show_default=False,
        ),
    ] = None,
    flag: Annotated[
        str,
        typer.Argument(
            help="legacy | new | shadow | canary PERCENT (e.g. canary 12.5, quoted or not)",
            show_default=False,
        ),
    ] = "",
    all_routes: Annotated[
        bool, typer.Option("--all", help="Flip every route and group (e.g. back to legacy)")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit trail")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    check: Annotated[
        bool, typer.Option(help="Without --url: load the apps to check the route names")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Set the flag of routes or groups in one call, via a running gateway or in Redis:
    `flip notes.list new`, `flip notes.list notes.show new`, `flip 'auth.*' canary 5`,
    `flip --all legacy`. Every change is audited; all names are checked first."""
    names = list(targets or [])
    if not flag and names:  # the flag is the last positional argument
        flag = names.pop()
    flag = canary_words(names, flag)
    try:
        settings = load_settings()
        parsed = parse_flag(flag)
        keys, pattern = bulk_request(names, all_routes)
        if url:
            if pattern is None and len(keys) == 1:
                body = {"flag": flag, "reason": reason}
                data = admin_request(settings, url, token, "PUT", f"/flags/{keys[0]}", json=body)
            else:
                body = {"targets": keys, "match": pattern, "flag": flag, "reason": reason}
                data = admin_request(settings, url, token, "POST", "/flips", json=body)
        else:
            rules = rules_for(settings, check)
            if pattern is not None:
                keys = [*keys, *matching_keys(rules, pattern)]
            result = flip_locally(settings, keys, flag, rules=rules, reason=reason)
            data = result.as_dict()
    except (CliError, FlagError, FlipRefused, FlagStoreUnavailable) as exc:
        fail(str(exc), as_json)
    source = source_of(settings, url)
    changes = data.get("changes") or [{"key": data.get("key"), "flag": str(parsed)}]
    if as_json:
        emit_json({"source": source, **data})
        return
    typer.echo(describe_source(source))
    for change in changes:
        version = change.get("version", data["version"])
        before = f"; before: {change['old_flag']}" if change.get("old_flag") else ""
        typer.echo(f"{change['key']} -> {change['flag']} (flags version {version}){before}")
    acks = data.get("acks")
    if acks and not acks.get("complete", True):
        missing = ", ".join(acks.get("missing", [])) or "-"
        err.print(f"[yellow]warning:[/] not applied yet by {missing}", highlight=False)
    for warning in data.get("warnings", []):
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
