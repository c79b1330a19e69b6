"""The dynamic batcher with a fake forward: rows come back to their owners, concurrent
requests share batches within the limits, cancelled requests never reach the model."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch

from service.inference.batcher import Batcher
from service.core.errors import InferenceFailed, NotReady, QueueFull


class FakeModel:
    """Embeds text "t<i>" as the row [i, len(batch)]; records batches and the calling thread."""

    def __init__(self, delay_s: float = 0.0, rows_off_by: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()
        self.delay_s, self.rows_off_by = delay_s, rows_off_by

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.batches.append(list(texts))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay_s)
        n = len(texts) + self.rows_off_by
        return torch.tensor([[float(t[1:]), len(texts)] for t in texts][:n]).reshape(n, 2)


def batcher(model: FakeModel, **kw) -> Batcher:
    opts = {"max_batch_size": 8, "max_batch_tokens": 10_000, "max_wait_s": 0.02, "max_queue": 64}
    opts.update(kw)
    return Batcher(model, **opts)


def run(coro):
    return asyncio.run(coro)


def texts(start: int, n: int) -> list[str]:
    return [f"t{i}" for i in range(start, start + n)]


def test_outputs_match_inputs_in_order():
    async def go():
        model = FakeModel()
        async with batcher(model) as b:
            out = await b.embed(texts(0, 5), [3] * 5)
        return out, model

    out, model = run(go())
    assert out[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert model.threads and threading.get_ident() not in model.threads  # forward off the event loop


def test_concurrent_requests_share_a_batch():
    async def go():
        model = FakeModel()
        async with batcher(model, max_wait_s=0.05) as b:
            outs = await asyncio.gather(*(b.embed(texts(10 * k, 2), [3, 3]) for k in range(3)))
        return outs, model

    outs, model = run(go())
    assert len(model.batches) == 1 and len(model.batches[0]) == 6
    for k, out in enumerate(outs):
        assert out[:, 0].tolist() == [10 * k, 10 * k + 1]


def test_large_request_is_split_over_batches_of_max_size():
    async def go():
        model = FakeModel()
        async with batcher(model, max_batch_size=4) as b:
            out = await b.embed(texts(0, 10), [3] * 10)
        return out, model

    out, model = run(go())
    assert [len(x) for x in model.batches] == [4, 4, 2]
    assert out[:, 0].tolist() == list(range(10))


def test_token_budget_limits_padded_batch_tokens():
    async def go():
        model = FakeModel()
        async with batcher(model, max_batch_tokens=300) as b:
            await b.embed(texts(0, 4), [100, 100, 100, 100])
        return model

    model = run(go())
    assert [len(x) for x in model.batches] == [3, 1]  # 3 x 100 fits, 4 x 100 does not


def test_a_text_over_the_token_budget_still_runs_alone():
    async def go():
        model = FakeModel()
        async with batcher(model, max_batch_tokens=50) as b:
            return await b.embed(texts(0, 2), [256, 256]), model

    out, model = run(go())
    assert [len(x) for x in model.batches] == [1, 1] and out.shape == (2, 2)


def test_cancelled_request_never_reaches_the_model():
    async def go():
        model = FakeModel(delay_s=0.2)
        async with batcher(model, max_batch_size=2, max_wait_s=0.0) as b:
            first = asyncio.create_task(b.embed(["t1", "t2"], [3, 3]))  # occupies the worker
            await asyncio.sleep(0.05)
            doomed = asyncio.create_task(b.embed(["t99", "t98"], [3, 3]))
            await asyncio.sleep(0.01)
            doomed.cancel()
            kept = await b.embed(["t3"], [3])
            await first
            return model, kept, b.queued

    model, kept, queued = run(go())
    assert all("t99" not in batch and "t98" not in batch for batch in model.batches)
    assert kept[:, 0].tolist() == [3] and queued == 0


def test_full_queue_refuses_with_queue_full():
    async def go():
        model = FakeModel(delay_s=0.2)
        async with batcher(model, max_batch_size=2, max_queue=4, max_wait_s=0.0) as b:
            busy = asyncio.create_task(b.embed(texts(0, 2), [3, 3]))
            await asyncio.sleep(0.05)
            waiting = asyncio.create_task(b.embed(texts(2, 3), [3] * 3))
            await asyncio.sleep(0.01)
            with pytest.raises(QueueFull) as info:
                await b.embed(texts(5, 2), [3, 3])
            await asyncio.gather(busy, waiting)
            return info.value

    error = run(go())
    assert error.status == 429 and error.retry_after_s == 1


def test_oversized_request_is_accepted_when_the_queue_is_empty():
    async def go():
        async with batcher(FakeModel(), max_queue=4) as b:
            return await b.embed(texts(0, 6), [3] * 6)

    assert run(go()).shape == (6, 2)


def test_wrong_number_of_rows_fails_the_batch_not_the_batcher():
    async def go():
        bad = FakeModel(rows_off_by=-1)
        async with batcher(bad) as b:
            with pytest.raises(InferenceFailed):
                await b.embed(texts(0, 3), [3] * 3)
            bad.rows_off_by = 0
            return await b.embed(texts(0, 2), [3, 3])

    assert run(go()).shape == (2, 2)


def test_waits_at_most_max_wait_for_company():
    async def go():
        async with batcher(FakeModel(), max_wait_s=0.05) as b:
            start = time.perf_counter()
            await b.embed(["t1"], [3])
            return time.perf_counter() - start

    assert 0.04 <= run(go()) < 0.5


def test_texts_of_similar_length_share_a_batch():
    async def go():
        model = FakeModel()
        async with batcher(model, max_batch_size=2, max_wait_s=0.05) as b:
            outs = await asyncio.gather(b.embed(["t1", "t2"], [10, 200]), b.embed(["t3", "t4"], [12, 210]))
        return outs, model

    outs, model = run(go())
    assert sorted(sorted(batch) for batch in model.batches) == [["t1", "t3"], ["t2", "t4"]]
    assert outs[0][:, 0].tolist() == [1, 2] and outs[1][:, 0].tolist() == [3, 4]


def test_without_batching_each_request_runs_alone():
    async def go():
        model = FakeModel()
        async with batcher(model, batching=False, max_wait_s=0.05) as b:
            outs = await asyncio.gather(*(b.embed(texts(10 * k, 2), [3, 3]) for k in range(3)))
        return outs, model

    outs, model = run(go())
    assert sorted(model.batches) == [texts(0, 2), texts(10, 2), texts(20, 2)]
    assert [out[:, 0].tolist() for out in outs] == [[0, 1], [10, 11], [20, 21]]


@pytest.mark.parametrize("overhead, expected", [(128, [["t1", "t3"], ["t2", "t4"]]), (100_000, [["t1", "t2", "t3", "t4"]])])
def test_a_window_is_cut_where_padding_costs_more_than_a_forward(overhead, expected):
    async def go():
        model = FakeModel()
        async with batcher(model, forward_overhead_tokens=overhead, max_wait_s=0.05) as b:
            await asyncio.gather(b.embed(["t1", "t2"], [10, 250]), b.embed(["t3", "t4"], [10, 250]))
        return model

    assert sorted(sorted(batch) for batch in run(go()).batches) == expected


def test_context_manager_starts_on_enter_and_fails_what_is_left_on_exit():
    async def go():
        b = batcher(FakeModel(delay_s=0.3), max_batch_size=2, max_wait_s=0.0)
        with pytest.raises(NotReady):  # not started before the block
            await b.embed(["t0"], [3])
        async with b as entered:
            assert entered is b
            assert (await b.embed(["t1"], [3]))[:, 0].tolist() == [1]  # running inside the block
            running = asyncio.create_task(b.embed(["t2", "t3"], [3, 3]))  # in the worker when the block ends
            await asyncio.sleep(0.05)
            waiting = asyncio.create_task(b.embed(["t4"], [3]))  # still queued when the block ends
            await asyncio.sleep(0.01)
        results = await asyncio.gather(running, waiting, return_exceptions=True)
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        with pytest.raises(NotReady):  # stopped after the block
            await b.embed(["t5"], [3])
        return results, others, b.queued

    results, others, queued = run(go())
    assert all(isinstance(r, NotReady) for r in results)  # no caller is left waiting
    assert others == set() and queued == 0  # the owner task is gone, nothing counted as waiting


class RecordingModel(FakeModel):
    """FakeModel that also records when each batch finished (perf_counter)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s)
        self.finished: list[float] = []

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = super().__call__(texts)
        self.finished.append(time.perf_counter())
        return out


def test_small_request_finishes_before_a_giant_one_after_about_one_batch():
    async def go():
        model = RecordingModel(delay_s=0.05)
        async with batcher(model, max_batch_size=4, max_queue=1000, max_wait_s=0.0) as b:
            giant = asyncio.create_task(b.embed(texts(100, 64), [50] * 64))  # 16 batches
            await asyncio.sleep(0.12)  # the giant is running (its 2nd or 3rd batch)
            batches_before = len(model.batches)
            await b.embed(["t1", "t2"], [50, 50])  # same lengths: no help from the length sort
            batches_at_small = len(model.batches)
            assert not giant.done()
            await giant
        return batches_before, batches_at_small, len(model.batches)

    before, at_small, total = run(go())
    # the running batch, then the small request's own batch (+1 for the one that may start meanwhile)
    assert at_small - before <= 3 and at_small < total


def test_tenants_share_the_model_by_tokens_not_by_requests():
    async def go():
        model = FakeModel(delay_s=0.01)
        async with batcher(model, max_batch_size=2, sort_window=1, max_queue=1000, max_wait_s=0.02) as b:
            many = [asyncio.create_task(b.embed(texts(100 + 10 * k, 2), [5, 5], tenant="busy")) for k in range(8)]
            one = asyncio.create_task(b.embed(texts(1, 4), [5] * 4, tenant="quiet"))
            await asyncio.gather(*many, one)
        return model

    model = run(go())
    quiet = [i for i, batch in enumerate(model.batches) if any(t in texts(1, 4) for t in batch)]
    # the quiet tenant's 4 texts are served within its half share: done by its batches 1-4 of 10, not last
    assert quiet[-1] < len(model.batches) - 2


def test_padding_efficiency_is_counted_per_batch():
    from service.core import metrics

    real0, padded0 = metrics.BATCH_REAL_TOKENS._value.get(), metrics.BATCH_PADDED_TOKENS._value.get()

    async def go():
        async with batcher(FakeModel(), max_batch_size=2, forward_overhead_tokens=100_000, max_wait_s=0.0) as b:
            await b.embed(["t1", "t2"], [10, 30])

    run(go())
    assert metrics.BATCH_REAL_TOKENS._value.get() - real0 == 40
    assert metrics.BATCH_PADDED_TOKENS._value.get() - padded0 == 60
