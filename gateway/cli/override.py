"""``override-token``: the signed value that forces one side for a tester."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import CliError, JsonOption, app, fail, load_settings
from gateway.cli.output import emit_json
from gateway.override import sign_override


@app.command("override-token")
def override_token(
    side: Annotated[str, typer.Argument(help="new | legacy")], as_json: JsonOption = False
) -> None:
    """Print the override value (header or cookie) that forces SIDE, signed with the secret."""
    try:
        settings = load_settings()
    except CliError as exc:
        fail(str(exc), as_json)
    if settings.override_secret is None:
        fail("GATEWAY_OVERRIDE_SECRET is not set, so overrides are disabled", as_json)
    if side not in ("new", "legacy"):
        fail("side must be 'new' or 'legacy'", as_json)
    value = sign_override(settings.override_secret.get_secret_value(), side)  # type: ignore[arg-type]
    if as_json:
        emit_json(
            {
                "side": side,
                "value": value,
                "header": settings.override_header,
                "cookie": settings.override_cookie,
            }
        )
        return
    typer.echo(value)
