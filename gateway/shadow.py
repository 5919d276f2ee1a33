"""Shadow traffic: the legacy app answers, the new app is tried on a copy.

The client's request goes to the primary (legacy) backend as usual while its
body and the response are recorded on the way through. Once the response is
complete the recording is queued; background workers replay it to the new
app with the session read-only and compare the answers. A full queue, an
oversized body or a slow replay drops the comparison, never the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.backends import Backend
from gateway.decision import decision_of
from gateway.settings import GatewaySettings
from shared_session import READ_ONLY_SCOPE_KEY

log = logging.getLogger("gateway.shadow")

SHADOW_HEADER = (b"x-gateway-shadow", b"1")
_GATEWAY_KEYS = ("router", "endpoint", "route", "path_params", "app", "session", "user", "auth")


@dataclass
class Recorded:
    """One side's answer, as far as the comparison needs it."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    too_big: bool = False

    def header(self, name: bytes) -> str:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return ""


@dataclass
class _Job:
    route: str
    scope: Scope
    request_body: bytes
    legacy: Recorded


class ShadowRunner:
    """Serve from the primary, replay to ``new`` afterwards, keep score.

    ``await start()`` starts the replay workers and ``await aclose()`` stops
    them (pending replays are dropped); both belong in the gateway's lifespan.
    ``workers`` replays run at once at most.
    """

    def __init__(
        self, settings: GatewaySettings, new: Backend, *, workers: int = 2, samples: int = 20
    ) -> None:
        self.new = new
        self.methods = frozenset(m.upper() for m in settings.shadow_methods)
        self.timeout = settings.shadow_timeout
        self.max_body = settings.shadow_max_body_bytes
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(settings.shadow_queue_size)
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.replayed: Counter[str] = Counter()
        self.matched: Counter[str] = Counter()
        self.mismatched: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.samples: deque[dict[str, Any]] = deque(maxlen=samples)
        self.idle = asyncio.Event()
        self.idle.set()
        # Told (route, "match" | "mismatch" | "dropped" | "error") for each replay.
        self.on_result: Callable[[str, str], None] | None = None

    def _note(self, route: str, result: str) -> None:
        if self.on_result is not None:
            self.on_result(route, result)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, primary: ASGIApp, route: str
    ) -> None:
        """Answer from ``primary``; queue a replay of this request to the new app."""
        if scope["type"] != "http" or scope["method"] not in self.methods:
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
            self.dropped["too_big"] += 1
            self._note(route, "dropped")
            return
        try:
            self.queue.put_nowait(_Job(route, replay_scope, bytes(request_body), answer))
            self.idle.clear()
        except asyncio.QueueFull:
            self.dropped["queue_full"] += 1
            self._note(route, "dropped")

    def stats(self) -> dict[str, Any]:
        """Counts so far: replayed, matched and mismatched per route, dropped per
        reason (queue_full, too_big, timeout), and the latest mismatch samples."""
        return {
            "replayed": sum(self.replayed.values()),
            "replayed_by_route": dict(self.replayed),
            "matched": dict(self.matched),
            "mismatched": dict(self.mismatched),
            "dropped": {
                reason: self.dropped[reason] for reason in ("queue_full", "too_big", "timeout")
            }
            | dict(self.dropped),
            "queued": self.queue.qsize(),
            "samples": list(self.samples),
        }

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
        try:
            async with asyncio.timeout(self.timeout):
                await self.new(job.scope, receive, send)
        except TimeoutError:
            self.dropped["timeout"] += 1
            self._note(job.route, "dropped")
            return
        except Exception as exc:
            error = f"new app raised {exc!r}"
        if shadow.too_big:
            self.dropped["too_big"] += 1
            self._note(job.route, "dropped")
            return
        # The shadow must never change the client's cookies, even by accident.
        shadow.headers = [(k, v) for k, v in shadow.headers if k.lower() != b"set-cookie"]
        self.replayed[job.route] += 1
        differences = [error] if error else compare(job.legacy, shadow)
        if not differences:
            self.matched[job.route] += 1
            self._note(job.route, "match")
            return
        self.mismatched[job.route] += 1
        self._note(job.route, "error" if error else "mismatch")
        self.samples.append(
            {
                "route": job.route,
                "method": job.scope["method"],
                "path": job.scope["path"],
                "query": job.scope.get("query_string", b"").decode("latin-1"),
                "differences": differences,
                "legacy": _summary(job.legacy),
                "new": _summary(shadow),
                "at": time.time(),
            }
        )


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


# ---- comparison: pure functions -------------------------------------------

_DATE_PATTERNS = (
    # ISO 8601 date-times and dates.
    re.compile(
        r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    ),
    # HTTP / RFC 2822 dates.
    re.compile(
        r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} "
        r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \w+"
    ),
)
_TAG_WITH_CSRF = re.compile(r"<(?:input|meta)\b[^>]*csrf[^>]*>", re.IGNORECASE)
_BETWEEN_TAGS = re.compile(rb">\s+<")
_SPACES = re.compile(rb"\s+")


def normalise_content_type(value: str) -> str:
    """``Text/HTML ; charset=UTF-8`` -> ``text/html;charset=utf-8``."""
    return ";".join(part.strip() for part in value.lower().split(";") if part.strip())


def _strip_dates(text: str) -> str:
    for pattern in _DATE_PATTERNS:
        text = pattern.sub("<date>", text)
    return text


def _normalise_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<csrf>" if "csrf" in k.lower() else _normalise_json(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise_json(v) for v in value]
    if isinstance(value, str):
        return _strip_dates(value)
    return value


def normalise_body(content_type: str, body: bytes) -> Any:
    """What is compared: JSON as a structure, text with CSRF tokens, dates and
    layout whitespace taken out, anything else as bytes."""
    kind = normalise_content_type(content_type).split(";")[0]
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return _normalise_json(json.loads(body))
        except ValueError:
            pass  # not valid JSON after all: compare it as text
    if kind.startswith("text/") or kind.endswith(("json", "xml", "javascript")):
        text = body.decode("utf-8", "replace")
        # The whole carrier tag goes: its token differs on every render.
        text = _TAG_WITH_CSRF.sub("<csrf>", text)
        text = _strip_dates(text)
        raw = _BETWEEN_TAGS.sub(b"><", text.encode())
        return _SPACES.sub(b" ", raw).strip()
    return bytes(body)


def compare(legacy: Recorded, new: Recorded) -> list[str]:
    """The differences that matter between two answers (empty when they match)."""
    differences: list[str] = []
    if legacy.status != new.status:
        differences.append(f"status {legacy.status} != {new.status}")
    legacy_type = normalise_content_type(legacy.header(b"content-type"))
    new_type = normalise_content_type(new.header(b"content-type"))
    if legacy_type != new_type:
        differences.append(f"content-type {legacy_type!r} != {new_type!r}")
    if 300 <= legacy.status < 400:
        # A redirect's body is boilerplate; where it points is the answer.
        if _location(legacy) != _location(new):
            differences.append(f"location {_location(legacy)!r} != {_location(new)!r}")
    elif normalise_body(legacy_type, bytes(legacy.body)) != normalise_body(
        new_type, bytes(new.body)
    ):
        differences.append("body")
    return differences


def _location(answer: Recorded) -> str:
    location = answer.header(b"location")
    # Absolute or relative, only where it points on this site matters.
    return re.sub(r"^https?://[^/]+", "", location)
