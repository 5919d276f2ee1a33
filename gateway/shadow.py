"""Shadow traffic: the legacy app answers, the new app is tried on a copy.

The client's request goes to the primary (legacy) backend as usual while its
body and the response are recorded on the way through. Once the response is
complete the recording is queued; background workers replay it to the new
app with the session read-only and compare the answers (gateway/comparison.py).
A full queue, an oversized body or a slow replay drops the comparison, never
the request; drops are counted per reason. ``shadow_sample_rate`` replays a
share of the requests only. Statistics are shared by every worker and replica
through Redis when it is configured (gateway/shadowstats.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.backends import Backend
from gateway.comparison import (
    Mismatch,
    Normalisers,
    Recorded,
    compare,
    normalise_body,
    normalise_content_type,
)
from gateway.decision import decision_of
from gateway.settings import GatewaySettings
from gateway.shadowstats import ShadowStats
from shared_session import READ_ONLY_SCOPE_KEY

log = logging.getLogger("gateway.shadow")

SHADOW_HEADER = (b"x-gateway-shadow", b"1")
_GATEWAY_KEYS = ("router", "endpoint", "route", "path_params", "app", "session", "user", "auth")


@dataclass
class _Job:
    route: str
    scope: Scope
    request_body: bytes
    legacy: Recorded


class ShadowRunner:
    """Serve from the primary, replay to ``new`` afterwards, keep score.

    ``await start()`` starts the replay workers and the statistics flusher,
    ``await aclose()`` stops them (pending replays are dropped); both belong
    in the gateway's lifespan. ``workers`` replays run at once at most.
    ``stats()`` is this process's view, ``await snapshot()`` every worker's.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        new: Backend,
        *,
        workers: int = 2,
        stats: ShadowStats | None = None,
    ) -> None:
        self.new = new
        self.methods = frozenset(m.upper() for m in settings.shadow_methods)
        self.timeout = settings.shadow_timeout
        self.max_body = settings.shadow_max_body_bytes
        self.sample_rate = settings.shadow_sample_rate
        self.normalisers = Normalisers.build(settings.shadow_normalisers)
        self.diff_max_chars = settings.shadow_diff_max_chars
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(settings.shadow_queue_size)
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.counts = stats or ShadowStats(
            redis_url=settings.redis_url,
            key=settings.shadow_stats_key,
            samples=settings.shadow_samples,
        )
        self.idle = asyncio.Event()
        self.idle.set()
        # Told (route, "match" | "mismatch" | "dropped" | "error") for each replay.
        self.on_result: Callable[[str, str], None] | None = None
        # Given a replay's scope and the new app, the app to replay to (the
        # gateway's answers HEAD and OPTIONS like Flask, gateway/automatic.py).
        self.replay_app: Callable[[Scope, ASGIApp], ASGIApp] | None = None

    def _note(self, route: str, result: str) -> None:
        if self.on_result is not None:
            self.on_result(route, result)

    async def start(self) -> None:
        await self.counts.start()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.counts.aclose()

    def settings_view(self) -> dict[str, Any]:
        """The shadow settings in force, as the admin API shows them."""
        return {
            "sample_rate": self.sample_rate,
            "methods": sorted(self.methods),
            "queue_size": self.queue.maxsize,
            "timeout": self.timeout,
            "max_body_bytes": self.max_body,
            "normalisers": self.normalisers.names,
        }

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, primary: ASGIApp, route: str
    ) -> None:
        """Answer from ``primary``; queue a replay of this request to the new app."""
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await primary(scope, receive, send)
            return
        if self.sample_rate < 1 and random.random() >= self.sample_rate:
            self.counts.count("not_sampled", route)
            await primary(scope, receive, send)
            return
        request_body = bytearray()
        body_too_big = False
        answer = Recorded()

        async def recording_receive() -> Message:
            nonlocal body_too_big
            message = await receive()
            if message["type"] == "http.request" and not body_too_big:
                request_body.extend(message.get("body", b""))
                body_too_big = len(request_body) > self.max_body
            return message

        async def recording_send(message: Message) -> None:
            await send(message)
            _record(answer, message, self.max_body)

        replay_scope = _replay_scope(scope)  # before the primary adds its own keys
        await primary(scope, recording_receive, recording_send)
        if not answer.complete:
            return  # client gone or the primary failed: nothing to compare with
        if body_too_big or answer.too_big:
            self.counts.count("dropped", "too_big")
            self._note(route, "dropped")
            return
        try:
            self.queue.put_nowait(_Job(route, replay_scope, bytes(request_body), answer))
            self.idle.clear()
        except asyncio.QueueFull:
            self.counts.count("dropped", "queue_full")
            self._note(route, "dropped")

    def stats(self) -> dict[str, Any]:
        """This process's counts (all of them without Redis): see ``snapshot``."""
        return self.counts.local() | {"queued": self.queue.qsize()}

    async def snapshot(self) -> dict[str, Any]:
        """Every worker's counts: replayed, matched and mismatched per route with
        match rates, dropped per reason (queue_full, too_big, timeout), requests
        not sampled, the latest mismatches with their diffs, and this process's
        queue and settings."""
        view = await self.counts.snapshot()
        return view | {"queued": self.queue.qsize(), "settings": self.settings_view()}

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self._replay(job)
            except Exception:
                log.exception("shadow replay of %s failed", job.scope.get("path"))
            finally:
                self.queue.task_done()
                if self.queue.empty():
                    self.idle.set()

    async def _replay(self, job: _Job) -> None:
        shadow = Recorded()
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": job.request_body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect: the timeout ends a stuck replay
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            _record(shadow, message, self.max_body)

        error: str | None = None
        new: ASGIApp = self.new
        if self.replay_app is not None:
            new = self.replay_app(job.scope, new)
        try:
            async with asyncio.timeout(self.timeout):
                await new(job.scope, receive, send)
        except TimeoutError:
            self.counts.count("dropped", "timeout")
            self._note(job.route, "dropped")
            return
        except Exception as exc:
            error = f"new app raised {exc!r}"
        if shadow.too_big:
            self.counts.count("dropped", "too_big")
            self._note(job.route, "dropped")
            return
        # The shadow must never change the client's cookies, even by accident.
        shadow.headers = [(k, v) for k, v in shadow.headers if k.lower() != b"set-cookie"]
        self.counts.count("replayed", job.route)
        if error:
            differences: dict[str, Any] = {
                "differences": [error],
                "first_difference": None,
                "diff": "",
            }
        else:
            large = len(job.legacy.body) + len(shadow.body) > 64 * 1024
            # A diff of large bodies runs in a thread, off the event loop.
            mismatch = (
                await asyncio.to_thread(self._compare, job.legacy, shadow)
                if large
                else self._compare(job.legacy, shadow)
            )
            if mismatch is None:
                self.counts.count("matched", job.route)
                self._note(job.route, "match")
                return
            differences = mismatch.as_dict()
        self.counts.count("mismatched", job.route)
        self._note(job.route, "error" if error else "mismatch")
        self.counts.add_sample(
            {
                "route": job.route,
                "method": job.scope["method"],
                "path": job.scope["path"],
                "query": job.scope.get("query_string", b"").decode("latin-1"),
                **differences,
                "legacy": _summary(job.legacy),
                "new": _summary(shadow),
                "at": time.time(),
            }
        )

    def _compare(self, legacy: Recorded, new: Recorded) -> Mismatch | None:
        return compare(legacy, new, self.normalisers, diff_max_chars=self.diff_max_chars)


class Shadowed:
    """An ASGI app: ``primary`` answers, ``runner`` replays the request to the new app.

    The route the statistics are kept under comes from the gateway's decision
    in the scope.
    """

    def __init__(self, runner: ShadowRunner, primary: ASGIApp) -> None:
        self.runner = runner
        self.primary = primary

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = decision_of(scope)
        route = decision.route if decision is not None else "?"
        await self.runner.serve(scope, receive, send, primary=self.primary, route=route)


def _replay_scope(scope: Scope) -> Scope:
    replay = {k: v for k, v in scope.items() if k not in _GATEWAY_KEYS}
    replay["headers"] = [*scope["headers"], SHADOW_HEADER]
    replay[READ_ONLY_SCOPE_KEY] = True
    if "state" in scope:
        replay["state"] = dict(scope["state"])
    return replay


def _record(answer: Recorded, message: Message, limit: int) -> None:
    if message["type"] == "http.response.start":
        answer.status = message["status"]
        answer.headers = list(message.get("headers", []))
    elif message["type"] == "http.response.body":
        if not answer.too_big:
            answer.body.extend(message.get("body", b""))
            if len(answer.body) > limit:
                answer.too_big = True
                answer.body.clear()
        if not message.get("more_body", False):
            answer.complete = True


def _summary(answer: Recorded) -> dict[str, Any]:
    return {
        "status": answer.status,
        "content_type": answer.header(b"content-type"),
        "body": bytes(answer.body[:300]).decode("utf-8", "replace"),
    }


__all__ = [
    "Recorded",
    "ShadowRunner",
    "Shadowed",
    "compare",
    "normalise_body",
    "normalise_content_type",
]
