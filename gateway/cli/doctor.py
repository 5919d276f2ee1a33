"""``doctor``: check a configuration, or a running deployment, for known mistakes.

Without ``--url`` it loads both apps from the local settings (as ``routes`` does),
pings the Redis servers they name and judges the settings. With ``--url`` it asks a
running gateway's ``GET <prefix>/doctor`` several times, on new connections so that
several workers answer, and also compares what the workers see. Exit code 1 when
anything is found (so a deploy pipeline stops), 0 when nothing is.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from gateway.cli.common import (
    CliError,
    TokenOption,
    admin_request,
    app,
    fail,
    load_settings,
    out,
)
from gateway.cli.output import describe_source, source_of
from gateway.doctor import Finding, diagnose, workers_disagree
from gateway.doctor_facts import gather
from gateway.loading import AppLoadError, load_asgi_app, load_flask_app
from gateway.settings import GatewaySettings


@app.command()
def doctor(
    url: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="Base URL of a running gateway; repeat it for every replica to check that "
            "they share one Redis",
        ),
    ] = None,
    token: TokenOption = None,
    workers: Annotated[
        int,
        typer.Option(
            envvar="WEB_CONCURRENCY",
            help="Without --url: worker processes the server will run (gunicorn -w)",
        ),
    ] = 1,
    behind_proxy: Annotated[
        bool,
        typer.Option("--behind-proxy", help="Without --url: a proxy forwards to the gateway"),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="FORWARDED_ALLOW_IPS",
            help="Without --url: the server's --forwarded-allow-ips (default 127.0.0.1)",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option(min=1, max=200, help="With --url: requests sent to reach the workers")
    ] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON")] = False,
) -> None:
    """Check the two apps' session keys and cookies, Redis, flags, proxy headers, the admin
    API and secrets; print each finding with its fix; exit 1 if anything is wrong."""
    try:
        settings = load_settings()
        if url:
            findings, seen = remote_findings(settings, url, token, samples)
        else:
            findings, seen = local_findings(settings, workers, behind_proxy, forwarded_allow_ips)
    except CliError as exc:
        fail(str(exc), as_json)
    if not as_json:
        for where in url or [None]:
            typer.echo(describe_source(source_of(settings, where)))
    report(findings, seen, as_json)
    if findings:
        raise typer.Exit(1)


def local_findings(
    settings: GatewaySettings, workers: int, behind_proxy: bool, allow_ips: str | None
) -> tuple[list[Finding], int]:
    source = settings.legacy_app or settings.legacy_url_map
    if not settings.new_app or not (source or settings.legacy_upstream):
        raise CliError(
            "no apps configured: pass --url to check a running gateway, or set "
            "GATEWAY_LEGACY_APP (or GATEWAY_LEGACY_UPSTREAM) and GATEWAY_NEW_APP"
        )
    try:
        # Upstream with a routes file and no url_map: the legacy app is not loaded
        # here, so only the new app's side of the session is checked.
        legacy = load_flask_app(source) if source else None
        new = load_asgi_app(settings.new_app)
    except AppLoadError as exc:
        raise CliError(str(exc)) from exc
    facts = gather(
        settings,
        legacy,
        new,
        workers=workers,
        behind_proxy=behind_proxy,
        forwarded_allow_ips=allow_ips,
    )
    return diagnose(facts), 1


def remote_findings(
    settings: GatewaySettings, urls: list[str], token: str | None, samples: int
) -> tuple[list[Finding], int]:
    """Every worker's findings (deduplicated), what the workers of all the replicas
    disagree on, and an admin API that answers without a token."""
    reports: dict[tuple[str, int], dict[str, Any]] = {}
    for url in urls:
        for _ in range(samples):
            body = admin_request(settings, url, token, "GET", "/doctor")
            reports.setdefault((url, int(body["pid"])), body)
    findings: dict[tuple[str, str], Finding] = {}
    for body in reports.values():
        for item in body["findings"]:
            finding = Finding(item["code"], item["problem"], item["fix"])
            findings.setdefault((finding.code, finding.problem), finding)
    extra = workers_disagree(
        (_server(body, "flags") for body in reports.values()), "flags"
    ) + workers_disagree((_server(body, "sessions") for body in reports.values()), "sessions")
    extra += [f for url in urls if (f := anonymous_admin(settings, url))]
    for finding in extra:
        findings.setdefault((finding.code, finding.problem), finding)
    return list(findings.values()), len(reports)


def anonymous_admin(settings: GatewaySettings, url: str) -> Finding | None:
    """A finding if the admin API at ``url`` answers a request without a token."""
    target = url.rstrip("/") + settings.admin_prefix.rstrip("/") + "/flags"
    try:
        anonymous = httpx.get(target, timeout=10)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the gateway at {url}: {exc}") from exc
    if anonymous.status_code >= 400:
        return None
    return Finding(
        "admin-api-open",
        f"GET {target} answered {anonymous.status_code} without a token: anyone who "
        "reaches it can flip routes",
        "set GATEWAY_ADMIN_TOKEN and unset GATEWAY_ADMIN_OPEN",
    )


def _server(body: dict[str, Any], purpose: str) -> str | None:
    """The Redis server one worker uses for ``purpose`` (None: memory or unreachable)."""
    ids = sorted(
        str(p.get("server_id"))
        for p in body.get("redis", [])
        if str(p.get("purpose", "")).startswith(purpose) and p.get("server_id")
    )
    return ",".join(ids) or None


def report(findings: list[Finding], workers_seen: int, as_json: bool) -> None:
    if as_json:
        data = {
            "ok": not findings,
            "workers_seen": workers_seen,
            "findings": [f.as_dict() for f in findings],
        }
        out.print_json(json.dumps(data))
        return
    for finding in findings:
        out.print(
            f"[bold red]problem[/] ({finding.code}): {finding.problem}",
            highlight=False,
            soft_wrap=True,
        )
        out.print(f"  [bold]fix:[/] {finding.fix}", highlight=False, soft_wrap=True)
    if findings:
        out.print(f"{len(findings)} problem(s) found", highlight=False)
    else:
        out.print(f"no problems found ({workers_seen} process(es) checked)", highlight=False)
