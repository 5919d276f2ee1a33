"""The whole stack on one machine, for development: ``python -m gateway.devstack``.

Starts the development OpenID provider (oidc-provider-mock) in a thread and
the gateway under uvicorn with the reference pair in-process (legacy_flask,
new_fastapi), configured to log in through that provider. Sessions and flags
live in memory unless ``REDIS_URL`` is set. Ctrl-C stops everything.

The reference apps are not installed with the toolkit: they are imported from
the repository root, which ``make run`` runs from (or name it on ``PYTHONPATH``).
The provider comes with the ``demo`` extra (``pip install -e '.[demo]'``).

Nothing secret is in the source: the apps' ``SECRET_KEY`` is generated once
into ``var/dev-secret-key`` (so a restart keeps you logged in) and the admin
token is a fresh random one at every start, printed in the flip commands.

This is the one module that writes the environment: the apps read their
settings from it (``OIDC_ISSUER``, ``SECRET_KEY``...), so it is set before
they are built.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import typer
import uvicorn
from werkzeug.serving import BaseWSGIServer, make_server

from gateway.settings import GatewaySettings

log = logging.getLogger("gateway.devstack")

cli = typer.Typer(add_completion=False, help=__doc__)


class DevstackError(Exception):
    """The development stack cannot start; the message says what to do."""


@contextlib.contextmanager
def oidc_provider(host: str, port: int) -> Iterator[BaseWSGIServer]:
    """oidc-provider-mock on ``host:port`` in a thread, stopped on exit.

    Raises OSError when the port is taken, DevstackError without the ``demo`` extra.
    """
    try:
        import oidc_provider_mock
    except ImportError as exc:
        raise DevstackError(
            "the development OpenID provider is not installed: pip install -e '.[demo]' "
            "(make run does it)"
        ) from exc
    server = make_server(host, port, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


DEV_KEY_FILE = Path("var/dev-secret-key")
REFERENCE_LEGACY_APP = "legacy_flask:create_app()"
REFERENCE_NEW_APP = "new_fastapi:create_app()"
REFERENCE_APPS = (REFERENCE_LEGACY_APP, REFERENCE_NEW_APP)


def check_reference_apps(*import_strings: str) -> None:
    """Raise DevstackError unless every reference app's module can be imported.

    They live at the top of the repository and are not installed by pip.
    """
    for import_string in import_strings:
        module = import_string.partition(":")[0]
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise DevstackError(
                f"cannot import the reference app {module!r}: run `make run` from the "
                "repository root, or put the repository root on PYTHONPATH"
            )


def development_secret_key(path: Path = DEV_KEY_FILE) -> str:
    """This checkout's development key: random, made once, readable by its owner only."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = ""
    if not key:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
    return key


def configure_apps(issuer: str) -> dict[str, str]:
    """Point both apps at the development provider and give them a secret key
    (unless already configured)."""
    os.environ.setdefault("OIDC_ISSUER", issuer)
    if not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = development_secret_key()
    return {name: os.environ[name] for name in ("OIDC_ISSUER", "SECRET_KEY")}


def gateway_settings(admin_token: str) -> GatewaySettings:
    """Gateway settings from the environment, with the reference pair in-process,
    this run's admin token, no drain on Ctrl-C, and Redis only if REDIS_URL is set."""
    overrides: dict[str, object] = {"drain_seconds": 0}
    if not os.environ.get("GATEWAY_LEGACY_APP") and not os.environ.get("GATEWAY_LEGACY_UPSTREAM"):
        overrides["legacy_app"] = REFERENCE_LEGACY_APP
    if not os.environ.get("GATEWAY_NEW_APP"):
        overrides["new_app"] = REFERENCE_NEW_APP
    if not os.environ.get("GATEWAY_ADMIN_TOKEN") and not os.environ.get("GATEWAY_ADMIN_TOKENS"):
        overrides["admin_token"] = admin_token
    return GatewaySettings(**overrides)  # type: ignore[arg-type]


def banner(url: str, issuer: str, settings: GatewaySettings, generated_token: str | None) -> str:
    """What to do next; ``generated_token`` (this run's admin token) is printed in the
    commands so they work as pasted, a token from the environment is not."""
    admin = f"{url}{settings.admin_prefix}"
    token = generated_token or "$GATEWAY_ADMIN_TOKEN"
    auth = f" -H 'Authorization: Bearer {token}'"
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
  Admin token (new at every start): {token}
  Dashboard: {admin}/   (sign in with the admin token)
  Routes:   curl{auth} {admin}/routes
  Flip:     GATEWAY_ADMIN_TOKEN={token} {cli_path} flip webapp.notes new --url {url}
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
    token = secrets.token_urlsafe(24)
    settings = gateway_settings(token)
    try:
        check_reference_apps(
            *(s for s in (settings.legacy_app, settings.new_app) if s in REFERENCE_APPS)
        )
        provider = oidc_provider("127.0.0.1", oidc_port)
        provider.__enter__()
    except DevstackError as exc:
        raise SystemExit(f"error: {exc}") from exc
    except OSError as exc:
        raise SystemExit(f"cannot start the OpenID provider on port {oidc_port}: {exc}") from exc
    try:
        configure_apps(issuer)
        gateway = create_gateway(settings)
        url = f"http://{host}:{port}"
        generated = (
            token
            if settings.admin_token and settings.admin_token.get_secret_value() == token
            else None
        )
        typer.echo(banner(url, os.environ["OIDC_ISSUER"], settings, generated))
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
