"""The kit's Flask-Login and Flask-WTF bridges, as dependencies the routers share."""

from typing import Annotated, Any

from fastapi import Depends, Request

from flask_compat import g


async def current_user(request: Request) -> Any:
    return await request.app.state.login.current_user(request)


async def login_required(request: Request) -> Any:
    return await request.app.state.login.login_required(request)


async def csrf_protect(request: Request) -> None:
    await request.app.state.csrf.protect(request)


def load_logged_in_user(user: Annotated[Any, Depends(current_user)]) -> None:
    g.user = user  # the Flask app's before_request, as a dependency
