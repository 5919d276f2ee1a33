"""``override-token``: the signed value that forces one side for a tester."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import CliError, app, fail, load_settings, out
from gateway.override import sign_override


@app.command("override-token")
def override_token(side: Annotated[str, typer.Argument(help="new | legacy")]) -> None:
    """Print the override value (header or cookie) that forces SIDE, signed with the secret."""
    try:
        settings = load_settings()
    except CliError as exc:
        fail(str(exc))
    if settings.override_secret is None:
        fail("GATEWAY_OVERRIDE_SECRET is not set, so overrides are disabled")
    if side not in ("new", "legacy"):
        fail("side must be 'new' or 'legacy'")
    out.print(sign_override(settings.override_secret.get_secret_value(), side), highlight=False)  # type: ignore[arg-type]
