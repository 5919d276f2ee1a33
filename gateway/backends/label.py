"""``X-Served-By``: each backend names itself on the responses it gives.

Wrapping the backend rather than deciding the header up front means a
wrapper that switches backends mid-request (fallback: new fails, legacy
answers) gets the right name without being told.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SERVED_BY = b"x-served-by"


class ServedBy:
    """``app``'s responses carry ``X-Served-By: name`` (replacing any the app set)."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name
        self._header = (SERVED_BY, name.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = self._header

        async def labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != SERVED_BY]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, labelled)
