"""Dynamic batching in front of the backbone: one owner task, one worker thread.

Requests call :meth:`Batcher.embed` with their items (opaque here: token ids for the service),
token counts and tenant. The owner task waits at most ``max_wait_s`` after the oldest waiting
text arrived for company, then takes up to ``sort_window`` batches' worth of waiting texts in
fair order (service/inference/fair_queue.py: tenants by their share of tokens, a tenant's requests
round-robin), sorts those by length and cuts them into batches of at most ``max_batch_size``
texts and ``max_batch_tokens`` padded tokens (batch x longest) at the least padding +
per-forward cost: similar lengths pad little, which on a CPU is most of the gain of batching.
The batches of that plan run one after the other in the worker thread (the event loop never
blocks), the batch holding the first texts taken first. When a request arrives while a plan
still has batches to run, those go back to the queue and a new plan is made after the running
batch: a small request waits for at most about one batch, however large the requests ahead of
it. With ``batching=False`` a plan holds one request's texts only: the naive baseline (one
forward per request) that bench/ compares against.

Guarantees: each request gets exactly its rows back, in order (a forward that returns
another number of rows fails the batch); requests cancelled while waiting (client gone,
timeout) are dropped before their texts reach the backbone; when more than ``max_queue``
texts wait, new requests are refused with :class:`QueueFull` (HTTP 429).

Lifecycle: ``async with Batcher(...) as batcher:`` starts the owner task and the worker thread;
leaving the block stops them and fails every request still waiting or in the running batch with
:class:`NotReady` (HTTP 503), so no caller waits forever and no task outlives the block.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

import torch

from service.core import metrics
from service.core.errors import InferenceFailed, NotReady, QueueFull
from service.inference.fair_queue import FairQueue, Item, Job

log = logging.getLogger("service.inference.batcher")
Forward = Callable[[list[Any]], torch.Tensor]  # (B,) items -> (B, D); runs in the worker thread


@dataclass
class _Batch:
    items: list[Item] = field(default_factory=list)
    longest: int = 0
    first: int = 0  # fair-order rank of its first-taken text: the plan runs batches by it

    def padded_tokens(self) -> int:
        return len(self.items) * self.longest

    def real_tokens(self) -> int:
        return sum(int(job.lengths[i]) for job, i in self.items)


class Batcher:
    def __init__(
        self,
        forward: Forward,
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queue: int,
        retry_after_s: int = 1,
        sort_window: int = 4,
        forward_overhead_tokens: int = 128,
        batching: bool = True,
    ) -> None:
        self._forward = forward
        self.sort_window, self.batching = max(1, sort_window), batching
        self.forward_overhead_tokens = forward_overhead_tokens
        self.max_batch_size, self.max_batch_tokens = max_batch_size, max_batch_tokens
        self.max_wait_s, self.max_queue, self.retry_after_s = max_wait_s, max_queue, retry_after_s
        self._queue = FairQueue()  # requests with texts not yet planned
        self._arrived = False  # a request arrived since the plan was made: re-plan after the running batch
        self._plan: deque[_Batch] = deque()  # batches cut from the last sorted window, not yet run
        self._queued = 0  # texts waiting (not yet in a batch)
        self._wakeup = asyncio.Event()
        self._running: _Batch | None = None  # the batch in the worker thread now
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        """Start the owner task and the worker thread."""
        if self._task is not None:
            raise RuntimeError("a Batcher runs once")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the owner task; fail the requests still waiting or running (NotReady)."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        batches = [*self._plan, *([self._running] if self._running else [])]
        for job in {*self._queue.jobs(), *(job for batch in batches for job, _ in batch.items)}:
            if not job.future.done():
                job.future.set_exception(NotReady("the server is shutting down"))
        self._queue = FairQueue()
        self._plan.clear()
        self._running = None
        self._set_queued(0)
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued(self) -> int:
        return self._queued

    # ---- request side ---------------------------------------------------------------------
    async def embed(self, texts: Sequence[Any], lengths: Sequence[int], tenant: str | None = None) -> torch.Tensor:
        """(N,) items and their token counts -> (N, D) float32 embeddings, in order. ``tenant``:
        whose share of the model the texts use (None: one shared share)."""
        if len(texts) != len(lengths):
            raise ValueError("one token count per text")
        if self._task is None or self._task.done():
            raise NotReady("the batcher is not running")
        if not texts:
            return torch.empty(0, 0)
        if self._queued and self._queued + len(texts) > self.max_queue:
            raise QueueFull(
                f"{self._queued} texts are waiting for the model (limit {self.max_queue}); retry later",
                retry_after_s=self.retry_after_s,
            )
        loop = asyncio.get_running_loop()
        job = Job(texts, lengths, loop.create_future(), time.perf_counter(), tenant)
        self._queue.add(job)
        self._arrived = True
        self._set_queued(self._queued + len(texts))
        self._wakeup.set()
        return await job.future  # cancelling the caller cancels this future: the job is dropped

    # ---- owner task -----------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._plan and self._arrived and self.batching:  # let the newcomer in after the running batch
                self._queue.give_back([item for batch in self._plan for item in batch.items])
                self._plan.clear()
            if not self._plan:
                self._drop_cancelled()
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                if self.batching:
                    await self._wait_for_company()
                self._plan = deque(self._make_plan())
                if not self._plan:  # every waiting request was cancelled
                    continue
            batch = self._next_batch()
            if batch.items:
                self._running = batch
                await self._process(loop, batch)
                self._running = None

    async def _wait_for_company(self) -> None:
        """Until the batch is full or the oldest waiting text has waited max_wait_s."""
        deadline = self._queue.oldest() + self.max_wait_s
        while self._queued < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _drop_cancelled(self) -> None:
        """Forget the unplanned texts of cancelled requests (planned ones: see _next_batch)."""
        dropped = self._queue.drop_cancelled()
        if dropped:
            log.debug("dropped %d texts of cancelled requests", dropped)
            self._set_queued(self._queued - dropped)

    def _make_plan(self) -> list[_Batch]:
        """The next texts in fair order (sort_window batches' worth; one request's without
        batching), sorted by token count and cut into batches within the size and token limits;
        the batches in the order of their first-taken text."""
        self._drop_cancelled()
        self._arrived = False
        if not self._queue:
            return []
        if self.batching:
            taken = self._queue.take(self.max_batch_size * self.sort_window, self.max_batch_tokens * self.sort_window)
        else:
            taken = self._queue.take_job()
        rank = {id(item): k for k, item in enumerate(taken)}
        by_length = sorted(taken, key=lambda item: int(item[0].lengths[item[1]]))
        lengths = [int(job.lengths[i]) for job, i in by_length]
        cuts = self._cuts(lengths) if self.batching else self._greedy_cuts(lengths)
        batches = [_Batch(by_length[a:b], lengths[b - 1], min(rank[id(x)] for x in by_length[a:b]))
                   for a, b in zip([0, *cuts], cuts)]
        return sorted(batches, key=lambda batch: batch.first)

    def _fits(self, n: int, longest: int) -> bool:
        return n == 1 or (n <= self.max_batch_size and n * longest <= self.max_batch_tokens)

    def _cuts(self, lengths: list[int]) -> list[int]:
        """Ends of the batches that cover the ascending ``lengths`` at the least cost, a batch
        costing forward_overhead_tokens + size x longest (its padded tokens): one forward more
        where it saves more padding than it costs. Dynamic programming, O(n x max_batch_size)."""
        cost, start = [0.0] + [float("inf")] * len(lengths), [0] * (len(lengths) + 1)
        for j in range(1, len(lengths) + 1):
            for i in range(j - 1, max(0, j - self.max_batch_size) - 1, -1):
                if not self._fits(j - i, lengths[j - 1]):
                    break
                c = cost[i] + self.forward_overhead_tokens + (j - i) * lengths[j - 1]
                if c < cost[j]:
                    cost[j], start[j] = c, i
        cuts, j = [], len(lengths)
        while j:
            cuts.append(j)
            j = start[j]
        return cuts[::-1]

    def _greedy_cuts(self, lengths: list[int]) -> list[int]:
        """Full batches in order (the naive baseline: one forward per request within the limits)."""
        cuts, begin = [], 0
        for j in range(1, len(lengths) + 1):
            if not self._fits(j - begin, lengths[j - 1]):
                cuts.append(j - 1)
                begin = j - 1
        return [*cuts, len(lengths)] if lengths else []

    def _next_batch(self) -> _Batch:
        """The plan's next batch, less the texts of requests cancelled since it was planned."""
        planned = self._plan.popleft()
        self._set_queued(self._queued - len(planned.items))
        items = [(job, i) for job, i in planned.items if not job.future.done()]
        now = time.perf_counter()
        for job, _ in items:
            if not job.started:
                job.started = True
                metrics.QUEUE_DURATION.observe(now - job.enqueued)
        return _Batch(items, max((int(job.lengths[i]) for job, i in items), default=0))

    async def _process(self, loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
        texts = [job.texts[i] for job, i in batch.items]
        metrics.BATCH_SIZE.observe(len(texts))
        metrics.BATCH_TOKENS.observe(batch.padded_tokens())
        metrics.BATCH_PADDED_TOKENS.inc(batch.padded_tokens())
        metrics.BATCH_REAL_TOKENS.inc(batch.real_tokens())
        try:
            emb = await loop.run_in_executor(self._executor, self._timed_forward, texts)
            if emb.ndim != 2 or emb.shape[0] != len(texts):
                raise InferenceFailed(f"the model returned {tuple(emb.shape)} rows for {len(texts)} texts")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("forward failed for a batch of %d texts", len(texts))
            error = exc if isinstance(exc, InferenceFailed) else InferenceFailed(f"forward failed: {exc}")
            for job in {job for job, _ in batch.items}:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        for row, (job, i) in zip(emb, batch.items):
            if job.future.done():  # cancelled while its batch ran
                continue
            if job.out is None:
                job.out = torch.empty(len(job.texts), emb.shape[1], dtype=emb.dtype)
            job.out[i] = row
            job.done += 1
            if job.done == len(job.texts):
                job.future.set_result(job.out)

    def _timed_forward(self, texts: list[Any]) -> torch.Tensor:
        start = time.perf_counter()
        out = self._forward(texts)
        metrics.INFERENCE_DURATION.observe(time.perf_counter() - start)
        return out

    def _set_queued(self, value: int) -> None:
        self._queued = value
        metrics.QUEUE_SIZE.set(value)
