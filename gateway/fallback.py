"""Fallback: a GET that the new app fails is answered by the legacy app.

"Fails" means the new app raised, or answered with a 5xx, before a single
byte reached the client. Its response start is held back until its status is
known, so the client sees only one answer. Other methods are never retried
(they may have changed something).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.decision import decision_of

log = logging.getLogger("gateway.fallback")

RETRYABLE_METHODS = frozenset({"GET", "HEAD"})


async def serve_with_fallback(
    scope: Scope, receive: Receive, send: Send, new: ASGIApp, legacy: ASGIApp
) -> bool:
    """Serve from ``new``; on an exception or a 5xx before any byte was sent
    to a GET (or HEAD), serve from ``legacy``. Returns True if legacy answered.

    Exceptions of the new app after its response started propagate (the
    server then cuts the connection).
    """
    if scope["type"] != "http" or scope["method"] not in RETRYABLE_METHODS:
        await new(scope, receive, send)
        return False

    request_messages: list[Message] = []
    started = False
    swallowed = False

    async def recording_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            request_messages.append(message)
        return message

    async def guarded_send(message: Message) -> None:
        nonlocal started, swallowed
        if swallowed:
            return
        if message["type"] == "http.response.start" and message["status"] >= 500:
            swallowed = True
            return
        started = True
        await send(message)

    try:
        await new(dict(scope), recording_receive, guarded_send)
    except Exception as exc:
        if started:
            raise
        log.warning(
            "new app raised on %s %s, legacy answers: %r", scope["method"], scope["path"], exc
        )
    else:
        if not swallowed:
            return False
        log.warning("new app answered 5xx on %s %s, legacy answers", scope["method"], scope["path"])

    async def replay_receive() -> Message:
        # The new app may have read the body already: hand it over again.
        if request_messages:
            return request_messages.pop(0)
        return await receive()

    await legacy(scope, replay_receive, send)
    return True


class Fallback:
    """An ASGI app serving from ``new`` with ``legacy`` as fallback for failed GETs.

    ``counts`` holds how many requests legacy answered, per route (the
    gateway's decision in the scope names it).
    """

    def __init__(self, new: ASGIApp, legacy: ASGIApp) -> None:
        self.new = new
        self.legacy = legacy
        self.counts: Counter[str] = Counter()
        self.on_fallback: Callable[[str], None] | None = None  # told the route each time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await serve_with_fallback(scope, receive, send, self.new, self.legacy):
            decision = decision_of(scope)
            route = decision.route if decision else "?"
            self.counts[route] += 1
            if self.on_fallback is not None:
                self.on_fallback(route)
