"""``migrate-gateway``: look at and flip a gateway's routes from a shell.

One module per topic; each registers its commands on the shared typer ``app``
(``gateway.cli.common``) when imported here.
"""

from __future__ import annotations

from gateway.cli import (  # noqa: F401  (registers the commands)
    audit,
    flags,
    override,
    routefile,
    scaffold,
    shadow,
    status,
)
from gateway.cli.common import app


def main() -> None:
    """Entry point of the ``migrate-gateway`` script."""
    app()


__all__ = ["app", "main"]
