"""``migrate-gateway``: look at and flip a gateway's routes from a shell.

One module per topic; each registers its commands on the shared typer ``app``
(``gateway.cli.common``) when imported here.
"""

from __future__ import annotations

import os
import sys

from gateway.cli import (  # noqa: F401  (registers the commands)
    audit,
    doctor,
    flags,
    override,
    routefile,
    scaffold,
    shadow,
    status,
)
from gateway.cli.common import app


def main() -> None:
    """Entry point of the ``migrate-gateway`` script.

    Import strings resolve from the working directory first, as gunicorn and
    uvicorn resolve them (a console script does not put it on ``sys.path``).
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app()


__all__ = ["app", "main"]
