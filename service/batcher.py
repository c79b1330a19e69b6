"""Dynamic batching in front of the backbone: one owner task, one worker thread.

Requests call :meth:`Batcher.embed` with their items (texts, opaque here) and token counts; the owner task
packs the texts of concurrent requests into batches of at most ``max_batch_size`` texts
and ``max_batch_tokens`` padded tokens (batch x longest), waiting at most ``max_wait_s``
after the oldest waiting text arrived, and runs ``forward`` in its worker thread so the
event loop never blocks. A request larger than one batch is split over several.

Guarantees: each request gets exactly its rows back, in order (a forward that returns
another number of rows fails the batch); requests cancelled while waiting (client gone,
timeout) are dropped before their texts reach the backbone; when more than ``max_queue``
texts wait, new requests are refused with :class:`QueueFull` (HTTP 429).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from service import metrics
from service.errors import InferenceFailed, NotReady, QueueFull

log = logging.getLogger("service.batcher")
Forward = Callable[[list[Any]], torch.Tensor]  # (B,) items -> (B, D); runs in the worker thread


@dataclass(eq=False)
class _Job:
    texts: Sequence[Any]  # what ``forward`` reads: texts, or (text, window) pairs
    lengths: Sequence[int]
    future: asyncio.Future
    enqueued: float
    next: int = 0  # first text not yet taken into a batch
    done: int = 0  # rows received
    out: torch.Tensor | None = None  # (N, D), filled as batches come back
    started: bool = False


@dataclass
class _Batch:
    items: list[tuple[_Job, int]] = field(default_factory=list)  # (job, row index in the job)
    longest: int = 0

    def padded_tokens(self) -> int:
        return len(self.items) * self.longest

    def padded_tokens_with(self, n_tokens: int) -> int:
        return (len(self.items) + 1) * max(self.longest, n_tokens)


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
    ) -> None:
        self._forward = forward
        self.max_batch_size, self.max_batch_tokens = max_batch_size, max_batch_tokens
        self.max_wait_s, self.max_queue, self.retry_after_s = max_wait_s, max_queue, retry_after_s
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # texts waiting (not yet in a batch)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for job in self._jobs:
            if not job.future.done():
                job.future.set_exception(NotReady("the server is shutting down"))
        self._jobs.clear()
        self._set_queued(0)
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued(self) -> int:
        return self._queued

    # ---- request side ---------------------------------------------------------------------
    async def embed(self, texts: Sequence[Any], lengths: Sequence[int]) -> torch.Tensor:
        """(N,) items and their token counts -> (N, D) float32 embeddings, in order."""
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
        job = _Job(texts, lengths, loop.create_future(), time.perf_counter())
        self._jobs.append(job)
        self._set_queued(self._queued + len(texts))
        self._wakeup.set()
        return await job.future  # cancelling the caller cancels this future: the job is dropped

    # ---- owner task -----------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._drop_cancelled()
            if not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._wait_for_company()
            batch = self._take_batch()
            if batch.items:
                await self._process(loop, batch)

    async def _wait_for_company(self) -> None:
        """Until the batch is full or the oldest waiting text has waited max_wait_s."""
        deadline = self._jobs[0].enqueued + self.max_wait_s
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
        kept = deque(job for job in self._jobs if not job.future.done())
        dropped = sum(len(job.texts) - job.next for job in self._jobs if job.future.done())
        if dropped:
            log.debug("dropped %d texts of cancelled requests", dropped)
            self._jobs = kept
            self._set_queued(self._queued - dropped)

    def _take_batch(self) -> _Batch:
        batch, now = _Batch(), time.perf_counter()
        self._drop_cancelled()
        while self._jobs and len(batch.items) < self.max_batch_size:
            job = self._jobs[0]
            n_tokens = int(job.lengths[job.next])
            if batch.items and batch.padded_tokens_with(n_tokens) > self.max_batch_tokens:
                break
            if not job.started:
                job.started = True
                metrics.QUEUE_DURATION.observe(now - job.enqueued)
            batch.items.append((job, job.next))
            batch.longest = max(batch.longest, n_tokens)
            job.next += 1
            if job.next == len(job.texts):
                self._jobs.popleft()
        self._set_queued(self._queued - len(batch.items))
        return batch

    async def _process(self, loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
        texts = [job.texts[i] for job, i in batch.items]
        metrics.BATCH_SIZE.observe(len(texts))
        metrics.BATCH_TOKENS.observe(batch.padded_tokens())
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
