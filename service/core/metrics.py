"""Every Prometheus metric of the service, declared once, in its own registry.

Base units (seconds); small bounded label sets; never a user id or a text in a label.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no *_created series: they double the output and nobody graphs them
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKEN_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)

REQUESTS = Counter(
    "micro_requests_total", "HTTP requests answered", ["route", "status"], registry=REGISTRY
)
REQUEST_DURATION = Histogram(
    "micro_request_duration_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=REGISTRY
)
QUEUE_DURATION = Histogram(
    "micro_queue_duration_seconds", "Time a text waits for its batch to start", buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
INFERENCE_DURATION = Histogram(
    "micro_inference_duration_seconds", "Backbone forward time per batch (tokenize + forward)",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
BATCH_SIZE = Histogram("micro_batch_size", "Texts per backbone batch", buckets=SIZE_BUCKETS, registry=REGISTRY)
BATCH_TOKENS = Histogram(
    "micro_batch_tokens", "Padded tokens per backbone batch (batch x longest)", buckets=TOKEN_BUCKETS,
    registry=REGISTRY,
)
BATCH_REAL_TOKENS = Counter(
    "micro_batch_real_tokens_total", "Tokens of the texts run by the backbone (padding efficiency: / padded)",
    registry=REGISTRY,
)
BATCH_PADDED_TOKENS = Counter(
    "micro_batch_padded_tokens_total", "Padded tokens run by the backbone (batch x longest, summed)", registry=REGISTRY,
)
ADMISSION_REJECTED = Counter(
    "micro_admission_rejected_total", "Requests answered 429 before any work: estimated cost over the budget",
    registry=REGISTRY,
)
ADMITTED_COST = Gauge(
    "micro_admitted_cost_tokens", "Estimated tokens of the requests admitted and not yet answered", registry=REGISTRY,
)
QUEUE_SIZE = Gauge("micro_queue_size", "Texts waiting for the backbone", registry=REGISTRY)
EMBED_CACHE = Counter(
    "micro_embedding_cache_total", "Distinct texts of requests by embedding-cache result (hit: no forward)",
    ["result"], registry=REGISTRY,
)
FEEDBACK = Counter(
    "micro_feedback_total", "Feedback posts by outcome (applied, duplicate, unavailable, error)", ["result"],
    registry=REGISTRY,
)
REDIS_DURATION = Histogram(
    "micro_redis_duration_seconds", "Redis round-trip time by operation", ["op"], buckets=REDIS_BUCKETS,
    registry=REGISTRY,
)
REDIS_ERRORS = Counter("micro_redis_errors_total", "Failed Redis operations", ["op"], registry=REGISTRY)
DEGRADED = Counter(
    "micro_degraded_total", "Answers given in a degraded mode, by reason", ["reason"], registry=REGISTRY
)
REDIS_UP = Gauge(
    "micro_redis_up", "1 while Redis answered the last health check (readiness probe), else 0", registry=REGISTRY
)
STATE_REPAIRED = Counter(
    "micro_state_repaired_total", "Corrupt stored user states read as the prior (NaN, wrong length, bad JSON)",
    registry=REGISTRY,
)
USERS_REBUILT = Counter(
    "micro_users_rebuilt_total", "User states rebuilt from their kept history under a new model version, by result",
    ["result"], registry=REGISTRY,
)
SHUTDOWN_REJECTED = Counter(
    "micro_shutdown_rejected_total", "Requests answered 503 because the shutdown grace period ran out",
    registry=REGISTRY,
)
WEIGHT_ENTROPY = Histogram(
    "micro_weight_entropy_nats", "Entropy of the mixture weights a score used (ln K: uniform; 0: one head), by source",
    ["source"], buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0), registry=REGISTRY,
)
ACTIVE_USERS = Gauge(
    "micro_active_users", "Distinct users this replica scored or took labels from in the last 5 minutes",
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "micro_model_info", "The loaded model (value 1)", ["backbone", "heads", "version"], registry=REGISTRY
)

# Known label values start at 0, so rates and alerts work before the first event.
for _result in ("applied", "duplicate", "unavailable", "error"):
    FEEDBACK.labels(_result)
for _op in ("get", "feedback", "set_context", "delete", "ping"):
    REDIS_ERRORS.labels(_op)
DEGRADED.labels("redis_unavailable")
for _result in ("rebuilt", "failed"):
    USERS_REBUILT.labels(_result)
for _result in ("hit", "miss"):
    EMBED_CACHE.labels(_result)
for _source in ("user", "prior", "prior_degraded"):
    WEIGHT_ENTROPY.labels(_source)


def exposition() -> tuple[bytes, str]:
    """(body, content type) for GET /metrics."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
