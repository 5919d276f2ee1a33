"""Automatic rollback (and optional promotion) of flipped routes.

Every worker counts its answers (gateway/observing.py) and adds what they
gained, per flag key and backend (requests, 5xx, latency buckets), every
half second to one-second buckets: in
Redis (hashes ``<flag_key>:window:<key>:<second>``, expiring after the
window) so every worker and replica sees the same window, or in memory for a
single process. Once per ``rollback_check_interval`` one worker (whichever
takes the lock ``<flag_key>:guard``) compares, for each key on canary or new,
the new backend's 5xx rate (and p99, if configured) over the window with the
legacy's; a breach flips the key back to legacy through the flip service
(actor ``auto``, the figures in the reason). Only answers given since the
key's last flip count (``<flag_key>:changed``). With promotion steps, a
healthy canary moves to the next step after ``promotion_hold_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aredis

from gateway.audit import AUTO_ACTOR
from gateway.flags import Flag, FlagError
from gateway.flagstore import FlagStore, FlagStoreUnavailable
from gateway.flagstore.redis import slot_key
from gateway.flipping import FlipService
from gateway.flips import FlipRefused
from gateway.observing import BUCKETS, SESSION_DOWN, UNMATCHED, RowKey, changes_since
from gateway.settings import GatewaySettings
from shared_session.redis_connect import REDIS_ERRORS, describe_redis_error

log = logging.getLogger("gateway.rollback")

_REDIS_ERRORS = (*REDIS_ERRORS, OSError, asyncio.TimeoutError)
FLUSH_INTERVAL = 0.5
# Per backend: n (requests), e (5xx), then one count per latency bucket (+Inf last).
_FIELDS = 2 + len(BUCKETS) + 1

# KEYS: none. ARGV: prefix, first second, last second. Sums the buckets of one key.
SUM_SCRIPT = """
local totals = {}
for s = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  local flat = redis.call('HGETALL', ARGV[1] .. s)
  for i = 1, #flat, 2 do
    totals[flat[i]] = (totals[flat[i]] or 0) + tonumber(flat[i + 1])
  end
end
local out = {}
for k, v in pairs(totals) do out[#out + 1] = k; out[#out + 1] = v end
return out
"""


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One backend's answers for one key over the window."""

    requests: int = 0
    errors: int = 0
    buckets: tuple[int, ...] = ()

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def quantile(self, q: float) -> float:
        """Upper bound (s) of the latency bucket holding the ``q`` quantile (inf past 10 s)."""
        if not self.requests or not self.buckets:
            return 0.0
        rank, seen = q * self.requests, 0
        for i, count in enumerate(self.buckets):
            seen += count
            if seen >= rank:
                return BUCKETS[i] if i < len(BUCKETS) else float("inf")
        return float("inf")


def window_stats(counts: list[int] | None) -> WindowStats:
    if not counts:
        return WindowStats()
    return WindowStats(counts[0], counts[1], tuple(counts[2:]))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard concluded for one key: ``breach`` holds the reason, if any."""

    key: str
    new: WindowStats
    legacy: WindowStats
    breach: str | None = None


def judge(
    key: str,
    new: WindowStats,
    legacy: WindowStats,
    *,
    min_requests: int,
    error_margin: float,
    p99_margin: float | None,
    window: int,
) -> Verdict:
    """Pure: does the new backend do worse than legacy by more than the margins?

    Needs ``min_requests`` answers from new; legacy's figures count as 0 when it
    has fewer than that (a route fully on new is judged on new's own rate).
    """
    if new.requests < min_requests:
        return Verdict(key, new, legacy)
    baseline = legacy.requests >= min_requests
    legacy_rate = legacy.error_rate if baseline else 0.0
    if new.error_rate - legacy_rate > error_margin:
        reason = (
            f"new 5xx rate {new.error_rate:.1%} ({new.errors}/{new.requests}) vs legacy "
            f"{legacy_rate:.1%} ({legacy.errors}/{legacy.requests}) over {window} s "
            f"exceeds the margin {error_margin:.1%}"
        )
        return Verdict(key, new, legacy, reason)
    if p99_margin is not None:
        new_p99 = new.quantile(0.99)
        legacy_p99 = legacy.quantile(0.99) if baseline else 0.0
        if new_p99 - legacy_p99 > p99_margin:
            reason = (
                f"new p99 <= {new_p99:g} s vs legacy {legacy_p99:g} s over {window} s "
                f"({new.requests} vs {legacy.requests} requests) "
                f"exceeds the margin {p99_margin:g} s"
            )
            return Verdict(key, new, legacy, reason)
    return Verdict(key, new, legacy)


def next_step(flag: Flag, steps: list[float]) -> str | None:
    """The flag text after ``flag`` in the promotion steps, or None at the end."""
    if flag.kind != "canary":
        return None
    for step in steps:
        if step * 100 > flag.basis_points:
            return "new" if step >= 100 else f"canary {step:g}"
    return None


class Windows:
    """Where the per-second counts live: memory (one process) or Redis (shared)."""

    def __init__(self, client: aredis.Redis | None, flag_key: str, window: int) -> None:
        self.client = client
        self.flag_key = flag_key
        self.window = window
        self._memory: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        self._changed: dict[str, float] = {}

    def _prefix(self, key: str) -> str:
        # In the flag hash's hash slot, so SUM_SCRIPT may read every second's
        # key of a window on a Redis Cluster.
        return slot_key(self.flag_key, f"window:{key}:")

    async def add(self, second: int, key: str, side: str, counts: list[int]) -> None:
        """Add one worker's counts for ``key``/``side`` in ``second``; raises redis errors."""
        if self.client is None:
            bucket = self._memory[(key, second)]
            for i, value in enumerate(counts):
                if value:
                    field = f"{side}:{i}"
                    bucket[field] = bucket.get(field, 0) + value
            self._forget_old(second)
            return
        name = f"{self._prefix(key)}{second}"
        async with self.client.pipeline(transaction=False) as pipe:
            for i, value in enumerate(counts):
                if value:
                    pipe.hincrby(name, f"{side}:{i}", value)
            pipe.expire(name, self.window + 5)
            await pipe.execute()

    def _forget_old(self, now: int) -> None:
        if len(self._memory) > 10_000 or now % 10 == 0:
            for k in [k for k in self._memory if k[1] < now - self.window - 5]:
                del self._memory[k]

    async def totals(self, key: str, first: int, last: int) -> dict[str, WindowStats]:
        """Per side, the sums over seconds ``first..last``; raises redis errors."""
        sums: dict[str, list[int]] = {}

        def add(field: str, value: int) -> None:
            side, _, index = field.partition(":")
            if index.isdigit() and int(index) < _FIELDS:
                sums.setdefault(side, [0] * _FIELDS)[int(index)] += value

        if self.client is None:
            for second in range(first, last + 1):
                for field, value in self._memory.get((key, second), {}).items():
                    add(field, value)
        else:
            # One key named (the window's first second) routes the script to
            # the node of the window's slot; the script builds the others.
            prefix = self._prefix(key)
            flat = await self.client.eval(SUM_SCRIPT, 1, f"{prefix}{first}", prefix, first, last)
            for i in range(0, len(flat), 2):
                field = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
                add(field, int(flat[i + 1]))
        return {side: window_stats(counts) for side, counts in sums.items()}

    async def mark_changed(self, key: str, at: float) -> None:
        if self.client is None:
            self._changed[key] = at
            return
        await self.client.hset(f"{self.flag_key}:changed", key, repr(at))

    async def changed_at(self) -> dict[str, float]:
        if self.client is None:
            return dict(self._changed)
        raw = await self.client.hgetall(f"{self.flag_key}:changed")
        out: dict[str, float] = {}
        for k, v in raw.items():
            with contextlib.suppress(ValueError):
                out[k.decode() if isinstance(k, bytes) else str(k)] = float(v)
        return out

    async def take_lock(self, owner: str, seconds: float) -> bool:
        """True for at most one caller per ``seconds`` across every worker."""
        if self.client is None:
            return True
        ms = max(1, int(seconds * 1000 * 0.9))
        return bool(await self.client.set(f"{self.flag_key}:guard", owner, nx=True, px=ms))


class RouteWindows:
    """This worker's answers, added to the shared windows every half second.

    Reads what the observer's rows gained since the last look, sums it per
    flag key and backend, and adds it to the current second. Only keys that
    ``watched`` names (those on canary or new) are sent anywhere.
    """

    def __init__(
        self,
        windows: Windows,
        rows: dict[RowKey, list[float]],
        key_for: Callable[[str], str],
        watched: Callable[[str], bool],
    ) -> None:
        self.windows = windows
        self.rows = rows
        self.key_for = key_for
        self.watched = watched
        self._seen: dict[RowKey, list[float]] = {}
        self._retry: dict[tuple[int, str, str], list[int]] = {}

    def _gained(self) -> dict[tuple[int, str, str], list[int]]:
        second = int(time.time())
        counts = self._retry
        self._retry = {}
        for (endpoint, side, klass), delta in changes_since(self.rows, self._seen).items():
            if endpoint == UNMATCHED or klass == SESSION_DOWN:
                continue  # a session outage is every backend's, no verdict on this one
            key = self.key_for(endpoint)
            if not self.watched(key):
                continue
            slot = counts.setdefault((second, key, side), [0] * _FIELDS)
            answers = int(sum(delta[:-1]))
            slot[0] += answers
            if klass == "5xx":
                slot[1] += answers
            for i, count in enumerate(delta[:-1]):
                slot[2 + i] += int(count)
        return counts

    async def flush(self) -> None:
        """Hand the new counts over; on Redis trouble they are kept for the next try."""
        pending = self._gained()
        for index, ((second, key, side), counts) in enumerate(pending.items()):
            try:
                await self.windows.add(second, key, side, counts)
            except _REDIS_ERRORS as exc:
                log.warning("rollback window counts not stored (%s); retrying", exc)
                for slot, values in list(pending.items())[index:]:
                    if slot[0] >= time.time() - self.windows.window:
                        self._retry[slot] = values
                return


class RollbackGuard:
    """The loop that judges every canary/new key and rolls it back (or promotes it)."""

    def __init__(
        self,
        settings: GatewaySettings,
        store: FlagStore,
        flips: FlipService,
        windows: Windows,
        route_windows: RouteWindows,
        owner: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.flips = flips
        self.windows = windows
        self.route_windows = route_windows
        self.owner = owner
        self.enabled = settings.rollback_enabled
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.enabled or self.settings.promotion_steps:
            self._tasks = [
                asyncio.create_task(self._flush_loop(), name="rollback-flush"),
                asyncio.create_task(self._check_loop(), name="rollback-check"),
            ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            with contextlib.suppress(*_REDIS_ERRORS):
                await self.route_windows.flush()
        self._tasks = []

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.route_windows.flush()
            except Exception:
                log.exception("rollback window flush failed")

    async def _check_loop(self) -> None:
        interval = self.settings.rollback_check_interval
        down = False  # said once per outage, not at every check
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.windows.take_lock(self.owner, interval):
                    await self.route_windows.flush()
                    await self.check()
                if down:
                    log.warning("rollback checks resumed: Redis reachable again")
                    down = False
            except _REDIS_ERRORS as exc:
                if not down:
                    log.warning(
                        "rollback checks skipped until Redis answers again: %s",
                        describe_redis_error(exc),
                    )
                    down = True
            except Exception:
                log.exception("rollback check failed")

    async def check(self, now: float | None = None) -> list[Verdict]:
        """Judge every key on canary or new once; roll back or promote. Returns the verdicts."""
        now = time.time() if now is None else now
        table = self.store.table
        keys = [k for k, f in table.flags.items() if f.kind in ("canary", "new")]
        if table.default.kind in ("canary", "new"):
            log.debug("default flag %s: only keys with their own flag are guarded", table.default)
        if not keys:
            return []
        window = self.settings.rollback_window_seconds
        changed = await self.windows.changed_at()
        verdicts = []
        for key in keys:
            since = changed.get(key, 0.0)
            if not since:  # flipped before anything recorded it: count from now on
                since = now
                await self.windows.mark_changed(key, now)
            first = max(int(now) - window + 1, int(since) + 1 if since else 0)
            stats = await self.windows.totals(key, first, int(now))
            verdict = judge(
                key,
                stats.get("new", WindowStats()),
                stats.get("legacy", WindowStats()),
                min_requests=self.settings.rollback_min_requests,
                error_margin=self.settings.rollback_error_margin,
                p99_margin=self.settings.rollback_latency_margin_seconds,
                window=window,
            )
            verdicts.append(verdict)
            flag = table.flag_for(key)
            if verdict.breach and self.enabled:
                await self._flip(key, "legacy", f"automatic rollback: {verdict.breach}")
            elif (
                not verdict.breach
                and self.settings.promotion_steps
                and verdict.new.requests >= self.settings.rollback_min_requests
                and now - since >= self.settings.promotion_hold_seconds
            ):
                step = next_step(flag, self.settings.promotion_steps)
                if step is not None:
                    reason = (
                        f"automatic promotion: healthy for {now - since:.0f} s "
                        f"(new 5xx {verdict.new.error_rate:.1%} of {verdict.new.requests})"
                    )
                    await self._flip(key, step, reason)
        return verdicts

    async def _flip(self, key: str, flag: str, reason: str) -> None:
        try:
            result = await self.flips.flip(key, flag, actor=AUTO_ACTOR, reason=reason, via="auto")
        except (FlipRefused, FlagError, FlagStoreUnavailable) as exc:
            log.error("automatic flip of %s to %s failed: %s", key, flag, exc)
            return
        log.warning("%s -> %s (flags version %d): %s", key, flag, result.version, reason)
