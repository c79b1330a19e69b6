"""Service settings: every field is an environment variable with the ``MICRO_`` prefix
(``MICRO_PORT=9000``, ``MICRO_REDIS_URL=redis://...``). Nothing else configures the service."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.paths import DEFAULT_CHECKPOINT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICRO_", extra="ignore", frozen=True)

    # ---- network ------------------------------------------------------------------------
    host: str = "127.0.0.1"  # bind address; 0.0.0.0 inside a container
    port: int = Field(8000, ge=0, le=65535)  # HTTP port
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # DEBUG logs texts; never in production
    request_timeout_s: float = Field(60.0, gt=0)  # a request still waiting after this is cancelled (504)
    # a request's line + headers: over this many bytes 431 and the connection closed (service/api/head_guard.py)
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    # a connection whose request line + headers are not all in this long after it opened (or after the previous
    # response) is closed: half-sent headers hold no socket for long (docs/security.md)
    header_timeout_s: float = Field(10.0, gt=0)

    # ---- model --------------------------------------------------------------------------
    checkpoint: Path = DEFAULT_CHECKPOINT  # heads.safetensors + config.json (relative paths: to the cwd)
    backbone_path: Path | None = None  # local HF model dir; None = the packaged all-MiniLM-L6-v2
    backbone_id: str | None = None  # name to check against the checkpoint when backbone_path is set
    device: str = "auto"  # auto (cuda when present), cpu, cuda, cuda:1
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: fp32 on cpu, bf16/fp16 on gpu
    torch_threads: int = Field(0, ge=0)  # intra-op threads for the forward; 0 = the cores we may use
    tau: float | None = Field(None, gt=0)  # overrides the checkpoint's Hedge temperature
    eta: float | None = Field(None, gt=0)  # overrides the checkpoint's mirror-descent step size
    active_criterion: Literal["entropy", "information"] | None = None  # overrides the checkpoint's next-query criterion
    warmup: bool = True  # run one forward before answering ready, so the first request is not slow
    # the backbone's forward. auto: torch-bf16 on a CPU with bf16 instructions when the checkpoint passed its
    # accuracy gate (`python -m model.fit_variant --checkpoint DIR`, variants.json), else torch. torch: fp32 on
    # CPU (MICRO_DTYPE on a GPU). torch-bf16: bf16 weights and activations, refused without a passed record.
    # onnx | onnx-int8: the checkpoint's ONNX Runtime graph (`python -m model.export_onnx`, extra .[onnx]).
    # Figures: docs/performance.md
    backend: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = "auto"

    # ---- dynamic batching ---------------------------------------------------------------
    max_batch_size: int = Field(32, ge=1)  # texts per forward; 32 keeps CPU latency under ~0.5 s
    max_batch_tokens: int = Field(8192, ge=16)  # padded tokens per forward (batch x longest); 32 x 256
    max_wait_ms: float = Field(5.0, ge=0)  # how long a non-full batch waits for company
    # the oldest waiting texts, this many batches' worth, are sorted by length before being cut into batches:
    # less padding (on CPU most of batching's gain); a text waits at most one such plan. 1 = arrival order
    sort_window: int = Field(4, ge=1)
    # the fixed cost of one forward in padded tokens: a sorted window is cut into more, smaller batches where
    # that saves more padding than it costs. CPU: ~100 (MiniLM on 2 cores: 20 ms per forward + 5k tokens/s,
    # docs/performance.md); GPU: thousands (padding is nearly free there, few full batches win)
    forward_overhead_tokens: int = Field(128, ge=0)
    # False: each request's texts run in a forward of their own (no cross-request batching): the naive
    # baseline of bench/load.py, never a production setting
    batching: bool = True
    max_queue: int = Field(1024, ge=1)  # texts waiting for the backbone; beyond this 429 (unless the queue is empty)
    retry_after_s: int = Field(1, ge=1)  # Retry-After sent with 429 / 503
    # admission before any work (service/api/admission.py): a request's tokens estimated from its Content-Length; when
    # the admitted, unanswered requests are estimated over this budget, a new one is answered 429 at once.
    # 65536 ~ 13 s of MiniLM on 2 CPU cores (5k tokens/s; 131072 measured 57 s waits under 300 x 32 on a loaded
    # machine, docs/performance.md): raise it on a GPU
    admission_budget_tokens: int = Field(65536, ge=1)
    admission_bytes_per_token: float = Field(4.0, gt=0)  # English text: ~4 bytes a token
    # one request's estimate is capped here (half the budget: a maximal request is admitted beside other work; its
    # 256 texts x 256-token window = 65536 real tokens are then under-counted, the cost of never starving it)
    admission_cap_tokens: int = Field(32768, ge=1)
    # with auth on, one tenant's admitted requests may declare at most this share of the budget (its first request is
    # always admitted): another tenant's small requests still fit beside one tenant's maximal ones
    admission_tenant_share: float = Field(0.5, gt=0, le=1)
    # a request body not all received this long after the request's head is answered 408 (the connection closed);
    # bodies are charged to the admission budget as they arrive, so a slow one holds nothing meanwhile
    body_timeout_s: float = Field(20.0, gt=0)
    # LRU of embeddings by (tenant, text) hash (~1.5 KB each at d=384); per tenant, so one tenant cannot time whether
    # another scored a text; 0 = off
    embed_cache_size: int = Field(16384, ge=0)

    # ---- Redis --------------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"  # user state lives here (with redis_cluster: any one node, db 0)
    # True: redis_url names one node of a Redis Cluster and redis-py's cluster client is used. Every key of a
    # user carries the hash tag {<user>}, so a user's keys share one slot and the feedback script stays atomic;
    # redis_max_connections then bounds the Redis calls in flight (each node's pool holds as many).
    redis_cluster: bool = False
    redis_timeout_s: float = Field(0.25, gt=0)  # socket + connect timeout; a dead Redis costs <= 2x this
    redis_max_connections: int = Field(64, ge=1)  # pool size; callers wait for a free connection
    redis_backoff_s: float = Field(1.0, ge=0)  # after a Redis error, skip Redis this long (score degrades)
    key_prefix: str = Field("micro", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # first part of every key
    user_ttl_s: int = Field(90 * 86400, ge=0)  # user state expires after this long without a write; 0 = never
    feedback_id_ttl_s: int = Field(86400, ge=1)  # how long a feedback_id is remembered for retries
    # at most this many of a user's latest feedback ids are remembered (~0.7 KB each), whatever their age
    feedback_id_max: int = Field(1000, ge=1)
    # a user's last labelled pairs (texts) kept outside the model version, replayed after a model upgrade
    history_max: int = Field(200, ge=0)
    # with auth on, the bytes one tenant's users may keep (labels' texts in their histories, each item at most 64 KB,
    # and stated contexts); a write that would go over is refused 403, nothing written (service/state/tenant_quota.py).
    # 0 = no quota. Set it below Redis' maxmemory divided by the tenants that share it
    tenant_max_bytes: int = Field(1 << 30, ge=0)

    # ---- auth (docs/api.md#authentication) ------------------------------------------------
    # on: /v1/* and /get_reward need Authorization: Bearer <key>, user ids are namespaced by the key's tenant;
    # off: no keys, one shared namespace (local development). docker-compose and production run with on
    auth: Literal["on", "off"] = "off"
    api_keys: SecretStr | None = None  # tenant:read+write:<sha256 hex of the key>,... or a JSON list; hashes only
    api_keys_file: Path | None = None  # the same, one entry a line (mount it as a secret); merged with api_keys
    # true: also POST /k/<key>/get_reward, for clients that cannot send a header (OpenRLHF's HTTP client), read-only
    # keys only. Off by default: a key in a URL lands in proxy/access logs, process arguments and experiment
    # trackers (docs/integrations.md#auth-for-header-less-clients); needs MICRO_AUTH=on
    url_keys: bool = False
    # on SIGTERM: answer not-ready (503 on /health/ready) this long before closing the listener, so load
    # balancers stop sending first; in-flight requests are then drained (up to 10 s) before the exit
    shutdown_delay_s: float = Field(0.0, ge=0)
    # on SIGTERM: requests in flight get this long (from the signal) to finish; the rest are answered 503 with
    # Retry-After. Below Kubernetes' 30 s terminationGracePeriodSeconds, with room for the delay above
    shutdown_grace_s: float = Field(20.0, ge=0)

    # ---- request limits (over them: 413) ------------------------------------------------
    max_responses: int = Field(64, ge=1)  # responses per score request
    max_queries: int = Field(256, ge=1)  # queries per /get_reward request
    max_batch_items: int = Field(256, ge=1)  # items per POST /v1/score:batch (each also within max_responses)
    max_batch_responses: int = Field(1024, ge=1)  # responses over all items of a score:batch (fits max_queue)
    # labels per POST /v1/users/{id}/feedback:batch: one script run in Redis (~1 ms per 256 at K=4); its
    # 3 texts a label (768 at 256) still fit in max_queue when none is cached
    max_feedback_items: int = Field(256, ge=1)
    max_text_chars: int = Field(20000, ge=1)  # characters per prompt, response, message or query
    max_messages: int = Field(64, ge=1)  # chat messages per request
    max_context_chars: int = Field(4000, ge=1)  # characters of a user's stated preferences
    # characters of all texts of one request together (prompt, messages, responses, contexts, queries, items): the
    # per-text limits multiply (64 messages x 20,000 characters); this bounds what one request holds and tokenizes
    # (~1 M characters: 64 responses of 15,000, a 256-item score:batch of ~4,000 characters per item)
    max_total_chars: int = Field(1_000_000, ge=1)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # raw request body
    # after a request whose body is at least this large, freed heap memory is handed back to the OS (glibc
    # malloc_trim, in a thread; service/core/memory_trim.py): RSS returns to near idle after large requests. 0 = never
    trim_after_bytes: int = Field(256 * 1024, ge=0)
