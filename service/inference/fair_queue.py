"""The batcher's waiting texts, taken fairly: tenants by start-time fair queueing on tokens
(each tenant's virtual clock advances by the tokens it is served, the lowest clock goes next),
and within a tenant its requests round-robin, one text each per turn. A request larger than a
batch is thus interleaved with the others instead of holding the model until it is done; a
tenant with many requests in flight gets the same token share as a tenant with one.

Event-loop only (no locks): the batcher's owner task and its ``embed`` callers share it.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(eq=False)
class Job:
    """One ``embed`` call: its texts, their token counts and where their rows go."""

    texts: Sequence[Any]  # what the forward reads: texts, or tokenized items
    lengths: Sequence[int]
    future: asyncio.Future
    enqueued: float
    tenant: str | None = None
    pending: deque[int] = field(default_factory=deque)  # rows not yet taken into a plan, ascending
    done: int = 0  # rows received
    out: torch.Tensor | None = None  # (N, D), filled as batches come back
    started: bool = False

    def __post_init__(self) -> None:
        self.pending = deque(range(len(self.texts)))


Item = tuple[Job, int]  # (job, row index in the job)


class FairQueue:
    def __init__(self) -> None:
        self._jobs: dict[str | None, deque[Job]] = {}  # tenant -> its requests with pending texts, in turn order
        self._clock: dict[str | None, float] = {}  # tenant -> virtual time (tokens served, from its start tag)
        self._now = 0.0  # the start tag of the text served last
        self.waiting = 0  # pending texts over all jobs

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def jobs(self) -> Iterable[Job]:
        return (job for jobs in self._jobs.values() for job in jobs)

    def oldest(self) -> float:
        return min(job.enqueued for job in self.jobs())

    def add(self, job: Job) -> None:
        if job.tenant not in self._jobs:  # idle until now: it starts at the current virtual time
            self._clock[job.tenant] = max(self._clock.get(job.tenant, 0.0), self._now)
            self._jobs[job.tenant] = deque()
        self._jobs[job.tenant].append(job)
        self.waiting += len(job.pending)

    def drop_cancelled(self) -> int:
        """Forget the pending texts of requests whose caller is gone; -> texts dropped."""
        dropped = 0
        for tenant in list(self._jobs):
            kept = deque(job for job in self._jobs[tenant] if not job.future.done())
            dropped += sum(len(job.pending) for job in self._jobs[tenant] if job.future.done())
            self._set(tenant, kept)
        self.waiting -= dropped
        return dropped

    def take(self, max_texts: int, max_tokens: int) -> list[Item]:
        """Up to ``max_texts`` texts / ``max_tokens`` tokens, in fair order (at least one text)."""
        heap = [(clock, i, tenant) for i, (tenant, clock) in enumerate(self._clock.items()) if tenant in self._jobs]
        heapq.heapify(heap)
        taken: list[Item] = []
        tokens = 0
        while heap and len(taken) < max_texts and (not taken or tokens < max_tokens):
            clock, order, tenant = heapq.heappop(heap)
            jobs = self._jobs[tenant]
            job = jobs.popleft()
            row = job.pending.popleft()
            taken.append((job, row))
            cost = max(1, int(job.lengths[row]))
            tokens += cost
            self._now = max(self._now, clock)
            self._clock[tenant] = clock + cost
            if job.pending:
                jobs.append(job)  # round-robin: its next text after the tenant's other requests
            if jobs:
                heapq.heappush(heap, (self._clock[tenant], order, tenant))
            else:
                del self._jobs[tenant]
        self.waiting -= len(taken)
        return taken

    def take_job(self) -> list[Item]:
        """All pending texts of the oldest request (the naive baseline: no cross-request batching)."""
        tenant = min(self._jobs, key=lambda t: self._jobs[t][0].enqueued)
        job = self._jobs[tenant].popleft()
        self._set(tenant, self._jobs[tenant])
        taken = [(job, row) for row in job.pending]
        job.pending.clear()
        self.waiting -= len(taken)
        return taken

    def give_back(self, items: Sequence[Item]) -> None:
        """Planned texts not run (a new request arrived): pending again, their tokens refunded."""
        by_job: dict[Job, list[int]] = {}
        for job, row in items:
            by_job.setdefault(job, []).append(row)
        for job, rows in by_job.items():
            if job.future.done():
                continue
            was_waiting = bool(job.pending)
            job.pending = deque(sorted([*rows, *job.pending]))
            self.waiting += len(rows)
            refund = sum(max(1, int(job.lengths[r])) for r in rows)
            if job.tenant not in self._jobs:
                self._jobs[job.tenant] = deque()
            self._clock[job.tenant] = max(self._now, self._clock[job.tenant] - refund)
            if not was_waiting:
                self._jobs[job.tenant].appendleft(job)

    def _set(self, tenant: str | None, jobs: deque[Job]) -> None:
        if jobs:
            self._jobs[tenant] = jobs
        else:
            self._jobs.pop(tenant, None)
