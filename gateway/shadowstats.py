"""Shadow statistics shared by every worker and replica.

Counts (replayed, matched, mismatched per route; dropped per reason; not
sampled) and the latest mismatch samples. Each process counts in memory
and, with Redis configured, adds its counts to one Redis hash
(``<key>:counts``) and pushes its samples onto a capped list
(``<key>:samples``) every ``flush_interval`` seconds, off the request path.
A read adds this process's not yet flushed counts to what Redis holds, so
every worker answers with the same figures. When Redis is down the counts
wait in memory (samples: the latest ones only) and the read says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter, deque
from typing import Any

import redis
import redis.asyncio as aredis

from gateway.flagstore.redis import slot_key
from shared_session.redis_connect import REDIS_ERRORS as CLIENT_ERRORS
from shared_session.redis_connect import async_client

log = logging.getLogger("gateway.shadow")

KINDS = ("replayed", "matched", "mismatched", "dropped", "not_sampled")
DROP_REASONS = ("queue_full", "too_big", "timeout")
REDIS_ERRORS = (*CLIENT_ERRORS, OSError, asyncio.TimeoutError)


def summarise(counts: Counter[str], samples: list[dict[str, Any]], store: str) -> dict[str, Any]:
    """The statistics as the admin API, the CLI and the dashboard show them.

    ``counts`` is keyed ``"<kind>:<route or reason>"``; ``samples`` latest first.
    """
    by_kind: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
    for field, value in counts.items():
        kind, _, name = field.partition(":")
        if kind in by_kind and value:
            by_kind[kind][name] = value
    routes = {}
    for route in sorted(set(by_kind["replayed"]) | set(by_kind["not_sampled"])):
        replayed = by_kind["replayed"].get(route, 0)
        matched = by_kind["matched"].get(route, 0)
        routes[route] = {
            "replayed": replayed,
            "matched": matched,
            "mismatched": by_kind["mismatched"].get(route, 0),
            "not_sampled": by_kind["not_sampled"].get(route, 0),
            "match_rate": round(matched / replayed, 4) if replayed else None,
        }
    replayed = sum(by_kind["replayed"].values())
    matched = sum(by_kind["matched"].values())
    dropped = {reason: by_kind["dropped"].get(reason, 0) for reason in DROP_REASONS}
    dropped |= by_kind["dropped"]
    return {
        "store": store,
        "replayed": replayed,
        "matched_total": matched,
        "mismatched_total": sum(by_kind["mismatched"].values()),
        "match_rate": round(matched / replayed, 4) if replayed else None,
        "replayed_by_route": by_kind["replayed"],
        "matched": by_kind["matched"],
        "mismatched": by_kind["mismatched"],
        "not_sampled": sum(by_kind["not_sampled"].values()),
        "dropped": dropped,
        "dropped_total": sum(dropped.values()),
        "routes": routes,
        "samples": samples,
    }


def _decode_counts(raw: dict[Any, Any]) -> Counter[str]:
    return Counter(
        {
            (k.decode() if isinstance(k, bytes) else str(k)): int(v)
            for k, v in raw.items()
            if str(v.decode() if isinstance(v, bytes) else v).lstrip("-").isdigit()
        }
    )


def _decode_samples(raw: list[Any]) -> list[dict[str, Any]]:
    samples = []
    for item in raw:
        try:
            value = json.loads(item)
        except (ValueError, TypeError):
            continue  # not ours: skip it rather than fail the whole read
        if isinstance(value, dict):
            samples.append(value)
    return samples


def read_sync(client: redis.Redis, key: str, samples: int = 20) -> dict[str, Any]:
    """The shared statistics read straight from Redis (the CLI without ``--url``).

    Raises redis.RedisError / OSError when Redis cannot be read.
    """
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(slot_key(key, "counts"))
    pipe.lrange(slot_key(key, "samples"), 0, samples - 1)
    counts, raw_samples = pipe.execute()
    return summarise(_decode_counts(counts), _decode_samples(raw_samples), "redis")


class ShadowStats:
    """Counts and samples of one process, shared through Redis when ``redis_url`` is set.

    ``count`` and ``add_sample`` never wait and never raise; ``await start()`` /
    ``await aclose()`` run the flusher (the last flush happens in ``aclose``).
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        key: str = "gateway:shadow",
        samples: int = 20,
        flush_interval: float = 0.5,
    ) -> None:
        self.redis_url = redis_url or None  # "" (an emptied variable) means no Redis
        self.key = key
        self.max_samples = samples
        self.flush_interval = flush_interval
        self.pending: Counter[str] = Counter()
        self.pending_samples: deque[dict[str, Any]] = deque(maxlen=samples)
        # Without Redis the pending figures are the totals; these keep what was flushed.
        self._client: aredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.last_error: str | None = None

    @property
    def shared(self) -> bool:
        return self.redis_url is not None

    def count(self, kind: str, name: str, n: int = 1) -> None:
        self.pending[f"{kind}:{name}"] += n

    def add_sample(self, sample: dict[str, Any]) -> None:
        self.pending_samples.append(sample)

    def local(self) -> dict[str, Any]:
        """This process's figures not yet in Redis (all of them without Redis)."""
        store = "redis" if self.shared else "memory (this process only)"
        return summarise(Counter(self.pending), list(reversed(self.pending_samples)), store)

    async def start(self) -> None:
        if not self.shared:
            return
        assert self.redis_url is not None
        self._client = async_client(self.redis_url, timeout=2)  # type: ignore[assignment]
        self._task = asyncio.create_task(self._flush_forever(), name="shadow-stats")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.flush()
            await self._client.aclose()
            self._client = None

    async def snapshot(self) -> dict[str, Any]:
        """The statistics of every worker and replica (Redis + this process's pending)."""
        if self._client is None:
            return self.local()
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(slot_key(self.key, "counts"))
            pipe.lrange(slot_key(self.key, "samples"), 0, self.max_samples - 1)
            raw_counts, raw_samples = await pipe.execute()
        except REDIS_ERRORS as exc:
            view = self.local()
            view["store"] = f"memory (this process only): Redis unavailable ({exc})"
            return view
        counts = _decode_counts(raw_counts) + self.pending
        samples = list(reversed(self.pending_samples)) + _decode_samples(raw_samples)
        return summarise(counts, samples[: self.max_samples], "redis")

    async def flush(self) -> None:
        """Move this process's pending counts and samples into Redis.

        Raises the Redis error when it fails; nothing is lost (it stays pending).
        """
        if self._client is None:
            return
        async with self._flush_lock:
            counts, samples = Counter(self.pending), list(self.pending_samples)
            if not counts and not samples:
                return
            self.pending.clear()
            self.pending_samples.clear()
            try:
                pipe = self._client.pipeline(transaction=True)
                for field, value in counts.items():
                    pipe.hincrby(slot_key(self.key, "counts"), field, value)
                if samples:
                    pipe.lpush(slot_key(self.key, "samples"), *(json.dumps(s) for s in samples))
                    pipe.ltrim(slot_key(self.key, "samples"), 0, self.max_samples - 1)
                await pipe.execute()
            except BaseException:
                self.pending.update(counts)
                newer = list(self.pending_samples)
                self.pending_samples.clear()
                self.pending_samples.extend([*samples, *newer])
                raise
            self.last_error = None

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except REDIS_ERRORS as exc:
                if self.last_error is None:
                    log.warning("shadow statistics stay in memory: Redis: %s", exc)
                self.last_error = str(exc)
