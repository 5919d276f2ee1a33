"""The dashboard's figures: quantiles from histogram buckets, rates per backend, progress."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from gateway.admin.figures import backend_figures, histogram_quantile, progress

INF = float("inf")


def test_quantiles_interpolate_within_the_bucket() -> None:
    buckets = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (INF, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.01 + 0.09 * 20 / 40)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.1 + 0.9 * 9 / 10)


def test_quantile_in_the_open_bucket_is_the_last_bound_and_none_without_data() -> None:
    assert histogram_quantile(0.99, [(0.5, 1.0), (INF, 10.0)]) == 0.5
    assert histogram_quantile(0.5, [(0.5, 0.0), (INF, 0.0)]) is None
    assert histogram_quantile(0.5, []) is None


def test_backend_figures_sum_endpoints_and_count_5xx() -> None:
    registry = CollectorRegistry()
    histogram = Histogram(
        "gateway_request_duration_seconds",
        "test",
        ["endpoint", "backend", "status_class"],
        buckets=(0.01, 0.1, 1.0),
        registry=registry,
    )
    for _ in range(98):
        histogram.labels("a", "new", "2xx").observe(0.005)
    for _ in range(2):
        histogram.labels("b", "new", "5xx").observe(0.5)
    histogram.labels("a", "legacy", "2xx").observe(0.05)
    figures = backend_figures(registry.collect())
    assert figures["new"]["requests"] == 100 and figures["new"]["errors"] == 2
    assert figures["new"]["error_rate"] == pytest.approx(0.02)
    assert figures["new"]["p50"] < 0.01 < figures["new"]["p99"] <= 1.0
    assert figures["legacy"] == {
        "requests": 1,
        "errors": 0,
        "error_rate": 0.0,
        "p50": pytest.approx(0.055),
        "p99": pytest.approx(0.0991),
    }


def test_progress_counts_legacy_routes_by_flag() -> None:
    rows = [
        {"origin": "legacy", "flag": "new", "implemented": True},
        {"origin": "legacy", "flag": "canary 5", "implemented": True},
        {"origin": "legacy", "flag": "legacy", "implemented": False},
        {"origin": "legacy", "flag": "legacy", "implemented": False},
        {"origin": "new", "flag": "new", "implemented": True},
    ]
    assert progress(rows) == {
        "total": 4,
        "new": 1,
        "canary": 1,
        "shadow": 0,
        "legacy": 2,
        "implemented": 2,
        "percent": 25.0,
    }
