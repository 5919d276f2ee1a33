"""What every ``migrate-gateway`` command shares: the typer app, output, errors,
settings, the admin API client and the local (no ``--url``) view of routes and flags.

Every command talks to a running gateway when given ``--url`` (its admin API,
with ``GATEWAY_ADMIN_TOKEN`` or ``--token``), otherwise it works from the
local settings (``GATEWAY_*`` / ``GATEWAY_CONFIG_FILE``): routes built from the
configured apps, flags read from or written to Redis directly.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from gateway.flags import FlagTable, Groups, parse_flag
from gateway.flagstore.redis import read_sync
from gateway.flips import FlipRules
from gateway.loading import AppLoadError, load_asgi_app, load_flask_app
from gateway.routefile import RouteFileError, read_routes_file
from gateway.routes import RouteTable, app_routes
from gateway.settings import GatewaySettings
from shared_session.redis_connect import REDIS_ERRORS, SyncClient, describe_redis_url, sync_client

app = typer.Typer(
    help="Inspect and flip the routes of a Flask-to-FastAPI gateway.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Base URL of a running gateway, e.g. http://127.0.0.1:8000"),
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="Admin token (default: GATEWAY_ADMIN_TOKEN)")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead of text (for scripts)")
]


class CliError(Exception):
    """Something the user can fix; printed without a traceback."""


def fail(message: str, as_json: bool = False) -> NoReturn:
    """Say what went wrong and exit 1: on stderr, or as ``{"error": ...}`` on stdout
    with ``--json`` (a script then always gets one JSON document)."""
    if as_json:
        typer.echo(json.dumps({"error": message}))
    else:
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def load_settings() -> GatewaySettings:
    try:
        return GatewaySettings()
    except (ValidationError, ValueError, OSError) as exc:
        raise CliError(f"invalid gateway settings: {exc}") from exc


def admin_request(
    settings: GatewaySettings, url: str, token: str | None, method: str, path: str, **kwargs: Any
) -> Any:
    """Call the admin API; returns decoded JSON or raises CliError with the server's message."""
    token = token or (settings.admin_token.get_secret_value() if settings.admin_token else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    target = url.rstrip("/") + settings.admin_prefix.rstrip("/") + path
    try:
        response = httpx.request(method, target, headers=headers, timeout=10, **kwargs)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the gateway at {url}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code >= 400:
        detail = body.get("error") if isinstance(body, dict) else body
        raise CliError(f"{method} {target} -> {response.status_code}: {detail}")
    return body


def local_rules(settings: GatewaySettings) -> FlipRules:
    """Build the route table from the configured apps, as the gateway would."""
    source = settings.legacy_app or settings.legacy_url_map
    if not settings.new_app or not (source or settings.legacy_routes_file):
        raise CliError(
            "no apps configured: pass --url to ask a running gateway, or set GATEWAY_LEGACY_APP "
            "(or GATEWAY_LEGACY_ROUTES_FILE / GATEWAY_LEGACY_URL_MAP) and GATEWAY_NEW_APP"
        )
    try:
        if settings.legacy_routes_file:
            legacy_map = read_routes_file(settings.legacy_routes_file)
        else:
            legacy_map = load_flask_app(source or "", settings.legacy_source_root).url_map
        new = load_asgi_app(settings.new_app, settings.new_source_root)
        groups = Groups.from_settings(settings.groups)
    except (AppLoadError, RouteFileError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    return FlipRules(RouteTable(legacy_map, app_routes(new)), groups, settings.admin_prefix)


def redis_client(settings: GatewaySettings) -> SyncClient:
    """A client for the configured Redis (one server, Sentinel or Cluster)."""
    if not settings.redis_url:
        raise CliError(
            "no REDIS_URL or GATEWAY_REDIS_URL set: pass --url to use a running gateway instead"
        )
    try:
        return sync_client(settings.redis_url, timeout=3)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def local_flags(settings: GatewaySettings) -> FlagTable:
    """The current flag table: from Redis when configured, else the configured flags."""
    default = parse_flag(settings.default_flag)
    if not settings.redis_url:
        table, _ = FlagTable.from_texts(0, settings.flags, default, "settings")
        return table
    try:
        version, texts = read_sync(redis_client(settings), settings.flag_key)
    except REDIS_ERRORS as exc:
        where = describe_redis_url(settings.redis_url)
        raise CliError(f"cannot read flags from Redis at {where}: {exc}") from exc
    if version is None:  # never seeded: the gateways will start from the configured flags
        texts = settings.flags
    table, _ = FlagTable.from_texts(version or 0, texts, default, "redis")
    return table
