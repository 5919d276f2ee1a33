"""The route class of every router: FastAPI routes that answer HEAD like Flask's."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute


class FlaskStyleRoute(APIRoute):
    """An ``APIRoute`` that also answers HEAD wherever it answers GET.

    Flask (like Starlette's plain ``Route``) adds HEAD to every GET rule;
    FastAPI's ``APIRoute`` does not, so monitors and link checkers sending
    HEAD would get 405 from the ported routes.
    """

    def __init__(
        self,
        path: str,
        endpoint: Any,
        *,
        methods: set[str] | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        wanted = {method.upper() for method in methods or ("GET",)}
        if "GET" in wanted:
            wanted.add("HEAD")
        super().__init__(path, endpoint, methods=wanted, **kwargs)
