"""Prometheus metrics of the gateway, served at ``<admin prefix>/metrics``.

- ``gateway_request_duration_seconds{endpoint,backend,status_class}``: a
  histogram; its ``_count`` is the request count.
- ``gateway_flags_version``: the flag table version this process serves.
- ``gateway_shadow_replays_total{endpoint,result}``: match, mismatch,
  dropped, error.
- ``gateway_fallbacks_total{endpoint}``.
- ``gateway_session_store_errors_total{side,operation}``.

Labels are endpoint names (``<unmatched>`` for paths no route matches),
never raw paths. Under several worker processes every worker writes its
values to files in one directory (prometheus-client's multiprocess mode) and
a scrape, whichever worker answers it, sums them all.

Requests are counted in the observer's plain rows (gateway/observing.py):
prometheus-client's own ``observe`` costs several microseconds, a few
percent of a fast route. One process reports the rows directly at scrape
time; under several workers what they gained is added to the shared
histogram files every second and before each scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import prometheus_client
import prometheus_client.values
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.observing import (
    BUCKETS,
    UNMATCHED,
    RowKey,
    changes_since,
    reported_class,
    status_class,
)
from gateway.settings import GatewaySettings

log = logging.getLogger("gateway.metrics")

SHADOW_RESULTS = ("match", "mismatch", "dropped", "error")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FLUSH_SECONDS = 1.0
REQUESTS_NAME = "gateway_request_duration_seconds"
REQUESTS_HELP = (
    "Time from request to the end of the response, by route endpoint, "
    "backend that answered and status class. Its _count is the request count."
)
REQUEST_LABELS = ("endpoint", "backend", "status_class")
__all__ = ["UNMATCHED", "GatewayMetrics", "metrics_dir_for", "status_class"]


def metrics_dir_for(settings: GatewaySettings, workers: int | None) -> Path | None:
    """Where worker processes share their values, or None for one process.

    ``settings.metrics_dir`` if set; else, under several workers, a directory
    per server named after its master process (every worker's parent), so a
    restarted server starts from zero and two servers never mix.
    """
    if settings.metrics_dir is not None:
        return settings.metrics_dir
    if workers is not None and workers > 1:
        return Path(tempfile.gettempdir()) / f"gateway-metrics-{os.getppid()}"
    return None


def use_multiprocess(directory: Path) -> None:
    """Switch this process's prometheus-client values to files in ``directory``.

    prometheus-client picks its value class from PROMETHEUS_MULTIPROC_DIR when
    it is imported, before the gateway is built; this does the same later, for
    this worker only, before any metric of the gateway exists.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    if not getattr(prometheus_client.values.ValueClass, "_multiprocess", False):
        prometheus_client.values.ValueClass = prometheus_client.values.MultiProcessValue()


class _FlagsVersion(Collector):
    def __init__(self, version: Callable[[], int]) -> None:
        self.version = version

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "gateway_flags_version", "Version of the flag table this gateway process serves."
        )
        gauge.add_metric([], float(self.version()))
        yield gauge


class _RequestRows(Collector):
    """The request histogram of one process, straight from its rows."""

    def __init__(self, rows: dict[RowKey, list[float]]) -> None:
        self.rows = rows

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(REQUESTS_NAME, REQUESTS_HELP, labels=REQUEST_LABELS)
        bounds = [*(str(float(b)) for b in BUCKETS), "+Inf"]
        merged: dict[RowKey, list[float]] = {}
        for (endpoint, side, klass), row in list(self.rows.items()):
            key = (endpoint, side, reported_class(klass))  # a session outage's 503s are 5xx
            into = merged.get(key)
            if into is None:
                merged[key] = list(row)
            else:
                merged[key] = [a + b for a, b in zip(into, row, strict=True)]
        for labels, row in merged.items():
            cumulative, total = [], 0.0
            for bound, count in zip(bounds, row[:-1], strict=True):
                total += count
                cumulative.append((bound, total))
            family.add_metric(list(labels), cumulative, row[-1])
        yield family


class GatewayMetrics:
    """The gateway's metrics of one process; ``render()`` answers a scrape.

    ``directory`` set: values live in files there, summed over every worker at
    scrape time. Otherwise they live in this object's own registry.
    """

    def __init__(
        self,
        flags_version: Callable[[], int],
        rows: dict[RowKey, list[float]],
        directory: Path | None = None,
    ) -> None:
        self.directory = directory
        if directory is not None:
            use_multiprocess(directory)
        self.registry = CollectorRegistry(auto_describe=True)
        self._flags = _FlagsVersion(flags_version)
        self._rows = rows  # the observer's; only ever read here
        self._flushed: dict[RowKey, list[float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.requests: Histogram | None = None
        if directory is not None:
            self.requests = Histogram(
                REQUESTS_NAME,
                REQUESTS_HELP,
                REQUEST_LABELS,
                buckets=BUCKETS,
                registry=self.registry,
            )
        else:
            self.registry.register(_RequestRows(self._rows))
        self.shadow_replays = Counter(
            "gateway_shadow_replays",
            "Shadow replays to the new app by route and result (match, mismatch, dropped, error).",
            ["endpoint", "result"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "gateway_fallbacks",
            "Requests the legacy app answered because the new app failed them.",
            ["endpoint"],
            registry=self.registry,
        )
        self.session_errors = Counter(
            "gateway_session_store_errors",
            "Shared session store calls that failed, by side (flask/asgi) and operation.",
            ["side", "operation"],
            registry=self.registry,
        )
        if directory is None:
            self.registry.register(self._flags)

    def flush(self) -> None:
        """Multiprocess mode: add what the rows gained to this worker's histogram file."""
        if self.requests is None:
            return
        for (endpoint, side, klass), gained in changes_since(self._rows, self._flushed).items():
            child = self.requests.labels(endpoint, side, reported_class(klass))
            # Histogram.observe() one answer at a time would cost what the rows
            # save; its per-bucket values take the counts in one step each.
            for index, count in enumerate(gained[:-1]):
                if count:
                    child._buckets[index].inc(count)
            child._sum.inc(gained[-1])

    async def start(self) -> None:
        if self.requests is not None:
            self._task = asyncio.create_task(self._flush_loop(), name="metrics-flush")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:
                log.exception("metrics flush failed")

    def shadow_result(self, endpoint: str, result: str) -> None:
        self.shadow_replays.labels(endpoint, result).inc()

    def fallback(self, endpoint: str) -> None:
        self.fallbacks.labels(endpoint).inc()

    def session_store_error(self, side: str, operation: str) -> None:
        self.session_errors.labels(side, operation).inc()

    def scrape_registry(self) -> CollectorRegistry:
        """A registry holding every worker's values as of now (this one's flushed first)."""
        if self.directory is None:
            return self.registry
        self.flush()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))
        registry.register(self._flags)
        return registry

    def collect(self) -> Iterator[Metric]:
        """Every metric family, summed over the workers (what a scrape sees)."""
        return self.scrape_registry().collect()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        registry = self.scrape_registry()
        return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
