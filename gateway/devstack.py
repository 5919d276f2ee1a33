"""The whole stack on one machine, for development: ``python -m gateway.devstack``.

Starts the development OpenID provider (oidc-provider-mock) in a thread and
the gateway under uvicorn with both apps in-process, configured to log in
through that provider. Sessions and flags live in memory unless ``REDIS_URL``
is set. Ctrl-C stops everything.

This is the one module that writes the environment: the apps read their
settings from it (``OIDC_ISSUER``...), so it is set before they are built.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import oidc_provider_mock
import typer
import uvicorn
from werkzeug.serving import BaseWSGIServer, make_server

from gateway.settings import GatewaySettings

log = logging.getLogger("gateway.devstack")

cli = typer.Typer(add_completion=False, help=__doc__)


@contextlib.contextmanager
def oidc_provider(host: str, port: int) -> Iterator[BaseWSGIServer]:
    """oidc-provider-mock on ``host:port`` in a thread, stopped on exit.

    Raises OSError when the port is taken.
    """
    server = make_server(host, port, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def configure_apps(issuer: str) -> dict[str, str]:
    """Point both apps at the development provider (unless already configured)."""
    values = {"OIDC_ISSUER": issuer}
    for name, value in values.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in values}


def gateway_settings() -> GatewaySettings:
    """Gateway settings from the environment, in-process apps, Redis only if REDIS_URL is set."""
    overrides: dict[str, object] = {}
    redis_url = os.environ.get("REDIS_URL")
    if redis_url and not os.environ.get("GATEWAY_REDIS_URL"):
        overrides["redis_url"] = redis_url
    return GatewaySettings(**overrides)  # type: ignore[arg-type]


def banner(url: str, issuer: str, settings: GatewaySettings) -> str:
    admin = f"{url}{settings.admin_prefix}"
    auth = " -H 'Authorization: Bearer $GATEWAY_ADMIN_TOKEN'" if settings.admin_token else ""
    store = "Redis" if settings.redis_url else "memory (set REDIS_URL for Redis)"
    # The CLI is installed next to this interpreter; outside an activated
    # virtualenv the bare name is not on PATH.
    cli_path = shutil.which("migrate-gateway") or str(
        Path(sys.executable).parent / "migrate-gateway"
    )
    return f"""
  Gateway          {url}   (legacy Flask + new FastAPI in-process; sessions/flags: {store})
  OpenID provider  {issuer}

  Log in:   open {url}/login, type any user name (e.g. alice) and press "Authorize".
  Routes:   curl{auth} {admin}/routes
  Flip:     {cli_path} flip webapp.notes new --url {url}
       or   curl{auth} -X PUT {admin}/flags/webapp.notes -d '{{"flag": "new"}}'
  Back:     curl{auth} -X PUT {admin}/flags/webapp.notes -d '{{"flag": "legacy"}}'
  Stop:     Ctrl-C
"""


@cli.command()
def main(
    host: str = typer.Option("127.0.0.1", help="Address of the gateway."),
    port: int = typer.Option(8000, help="Port of the gateway."),
    oidc_port: int = typer.Option(9400, help="Port of the development OpenID provider."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Run the development stack until Ctrl-C."""
    from gateway.app import create_gateway

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    issuer = f"http://127.0.0.1:{oidc_port}"
    try:
        provider = oidc_provider("127.0.0.1", oidc_port)
        provider.__enter__()
    except OSError as exc:
        raise SystemExit(f"cannot start the OpenID provider on port {oidc_port}: {exc}") from exc
    try:
        configure_apps(issuer)
        settings = gateway_settings()
        gateway = create_gateway(settings)
        url = f"http://{host}:{port}"
        typer.echo(banner(url, os.environ["OIDC_ISSUER"], settings))
        # uvicorn turns SIGINT/SIGTERM into a graceful shutdown (gateway lifespan included).
        server = uvicorn.Server(
            uvicorn.Config(gateway, host=host, port=port, log_level=log_level, lifespan="on")
        )
        # uvicorn re-raises the captured SIGINT once it has shut down gracefully.
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            raise SystemExit(f"the gateway could not start on {host}:{port} (see above)")
    finally:
        provider.__exit__(None, None, None)


if __name__ == "__main__":
    cli()
