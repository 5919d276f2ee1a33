"""The dashboard's figures, computed from what the gateway already counts.

Traffic, error rate and latency quantiles per backend come from the request
histogram ``gateway_request_duration_seconds{endpoint,backend,status_class}``
(summed over every worker in multiprocess mode); p50/p99 are interpolated
within the histogram's buckets, as Prometheus' ``histogram_quantile`` does.
Progress is the share of legacy routes the new app serves.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric

REQUEST_HISTOGRAM = "gateway_request_duration_seconds"


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile (0..1) of cumulative ``(upper bound, count)`` buckets sorted
    by bound, the last one +Inf; None without observations. Within a bucket the
    value is interpolated linearly; in the +Inf bucket it is the last finite bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def backend_figures(families: Iterable[Metric]) -> dict[str, dict[str, Any]]:
    """Per backend: requests, 5xx errors, error rate, p50 and p99 in seconds."""
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    requests: dict[str, float] = defaultdict(float)
    errors: dict[str, float] = defaultdict(float)
    for family in families:
        if family.name != REQUEST_HISTOGRAM:
            continue
        for sample in family.samples:
            backend = sample.labels.get("backend", "?")
            if sample.name.endswith("_bucket"):
                buckets[backend][float(sample.labels["le"])] += sample.value
            elif sample.name.endswith("_count"):
                requests[backend] += sample.value
                if sample.labels.get("status_class") == "5xx":
                    errors[backend] += sample.value
    figures = {}
    for backend in sorted(requests):
        cumulative = sorted(buckets[backend].items())
        total = requests[backend]
        figures[backend] = {
            "requests": int(total),
            "errors": int(errors[backend]),
            "error_rate": errors[backend] / total if total else None,
            "p50": histogram_quantile(0.5, cumulative),
            "p99": histogram_quantile(0.99, cumulative),
        }
    return figures


def progress(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How far the migration is: legacy routes by flag, and the share on new."""
    legacy = [row for row in rows if row["origin"] == "legacy"]
    by_flag: dict[str, int] = defaultdict(int)
    for row in legacy:
        by_flag[str(row["flag"]).split()[0]] += 1
    total = len(legacy)
    on_new = by_flag.get("new", 0)
    return {
        "total": total,
        "new": on_new,
        "canary": by_flag.get("canary", 0),
        "shadow": by_flag.get("shadow", 0),
        "legacy": by_flag.get("legacy", 0),
        "implemented": sum(1 for row in legacy if row["implemented"]),
        "percent": round(100 * on_new / total, 1) if total else 0.0,
    }
