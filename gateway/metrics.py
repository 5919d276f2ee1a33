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
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import prometheus_client
import prometheus_client.values
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.settings import GatewaySettings

log = logging.getLogger("gateway.metrics")

UNMATCHED = "<unmatched>"
STATUS_CLASSES = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")
SHADOW_RESULTS = ("match", "mismatch", "dropped", "error")
# Latency buckets (seconds) suited to web requests, from 2.5 ms to 10 s.
BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def status_class(status: int) -> str:
    """``503`` -> ``"5xx"``; anything out of range counts as ``"5xx"``."""
    index = status // 100
    return STATUS_CLASSES[index] if 1 <= index <= 5 else "5xx"


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

    def collect(self):  # type: ignore[no-untyped-def]
        gauge = GaugeMetricFamily(
            "gateway_flags_version", "Version of the flag table this gateway process serves."
        )
        gauge.add_metric([], float(self.version()))
        yield gauge


class GatewayMetrics:
    """The gateway's metrics of one process; ``render()`` answers a scrape.

    ``directory`` set: values live in files there, summed over every worker at
    scrape time. Otherwise they live in this object's own registry.
    """

    def __init__(self, flags_version: Callable[[], int], directory: Path | None = None) -> None:
        self.directory = directory
        if directory is not None:
            use_multiprocess(directory)
        self.registry = CollectorRegistry(auto_describe=True)
        self._flags = _FlagsVersion(flags_version)
        self.requests = Histogram(
            "gateway_request_duration_seconds",
            "Time from request to the end of the response, by route endpoint, "
            "backend that answered and status class. Its _count is the request count.",
            ["endpoint", "backend", "status_class"],
            buckets=BUCKETS,
            registry=self.registry,
        )
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
        # Children by label values, so a request costs one dict lookup.
        self._children: dict[tuple[str, str, str], Histogram] = {}

    def observe_request(
        self, endpoint: str | None, backend: str, status: int, seconds: float
    ) -> None:
        labels = (endpoint or UNMATCHED, backend, status_class(status))
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.requests.labels(*labels)
        child.observe(seconds)

    def shadow_result(self, endpoint: str, result: str) -> None:
        self.shadow_replays.labels(endpoint, result).inc()

    def fallback(self, endpoint: str) -> None:
        self.fallbacks.labels(endpoint).inc()

    def session_store_error(self, side: str, operation: str) -> None:
        self.session_errors.labels(side, operation).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        registry = self.registry
        if self.directory is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(self.directory))
            registry.register(self._flags)
        return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
