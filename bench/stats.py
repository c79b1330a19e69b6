"""Latency percentiles and /metrics deltas (Prometheus text) for the benchmarks."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (name, sorted labels) -> value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before: Samples, after: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of a series over all label sets that match ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for (n, lab), v in samples.items():
        if n == name:
            out[dict(lab).get(label, "")] += v
    return dict(out)


def batch_sizes(d: Samples) -> dict:
    """micro_batch_size over a delta: forwards, mean texts per forward, share of forwards per bucket."""
    count, sums = total(d, "micro_batch_size_count"), total(d, "micro_batch_size_sum")
    buckets = sorted((float(dict(lab)["le"]), v) for (n, lab), v in d.items() if n == "micro_batch_size_bucket")
    shares, previous = {}, 0.0
    for le, cumulative in buckets:
        if cumulative - previous > 0 and count:
            shares["inf" if math.isinf(le) else str(int(le))] = round((cumulative - previous) / count, 3)
        previous = cumulative
    return {"forwards": int(count), "mean": round(sums / count, 1) if count else 0.0, "le_shares": shares}
