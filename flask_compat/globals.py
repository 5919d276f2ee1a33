"""``g``: one fresh namespace per request, as Flask's ``g`` is per app context.

Set it from FastAPI dependencies or views (``g.user = ...``); templates
rendered through flask_compat see it as ``g``, and so does Flask code run
during the render (``flask.g`` is the same object then). Flask's
``before_request`` functions do not run for FastAPI requests: port the ones
that fill ``g`` as dependencies.

Two ways to reach it: the ``g`` proxy (the current request, like Flask's) or
the ``G`` dependency (``def view(g: G)``).
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from flask.ctx import _AppCtxGlobals
from werkzeug.local import LocalProxy

from flask_compat.state import current_state, state_for


def get_g(request: Request) -> _AppCtxGlobals:
    """FastAPI dependency: this request's ``g``.

    Raises ``NotInstalled`` if the app had no ``FlaskCompat.install()``.
    """
    return state_for(request).g


def _current_g() -> _AppCtxGlobals:
    return current_state().g


#: The current request's ``g`` (raises ``OutsideRequest`` outside one).
g = cast(_AppCtxGlobals, LocalProxy(_current_g))

#: ``def view(g: G)``: the request's ``g`` as a dependency.
G = Annotated[_AppCtxGlobals, Depends(get_g)]

__all__ = ["G", "g", "get_g"]
