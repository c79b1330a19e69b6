"""The service's embeddings equal the training path's (model.backbone.Encoder.encode and
encode_router): each text read with its own window, mixed batches padded together."""

from __future__ import annotations

import asyncio

import pytest
import torch

from model.backbone import Encoder
from service.inference.batcher import Batcher
from service.inference.embedder import Embedder, encoder_forward

pytestmark = pytest.mark.slow

ROUTERS = ["Tell me a joke.", "context: I like formal answers.\n\n" + "Explain entropy in detail. " * 40]
PAIRS = ["Q\n\nA short answer.", "Q\n\n" + "A very long answer that goes on. " * 80, "Q\n\nmid-sized answer " * 5]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    torch.set_num_threads(2)
    return Encoder(router_max_length=64)


def embed(encoder: Encoder, calls: list) -> list:
    async def go():
        batcher = Batcher(encoder_forward(encoder), max_batch_size=8, max_batch_tokens=4096, max_wait_s=0.001,
                          max_queue=64)
        original = batcher.embed

        async def counting(items, lengths, tenant=None):
            calls.append(len(items))
            return await original(items, lengths, tenant=tenant)

        batcher.embed = counting  # type: ignore[method-assign]
        async with batcher:
            embedder = Embedder(encoder, batcher, cache_size=100)
            first = await embedder.embed(ROUTERS, PAIRS)
            again = await embedder.embed(ROUTERS[:1], PAIRS[:1])
            return [first, again]

    return asyncio.run(go())


def test_service_embeddings_equal_training_embeddings(encoder: Encoder):
    calls: list[int] = []
    (routers, pairs), _ = embed(encoder, calls)
    assert torch.allclose(routers, encoder.encode_router(ROUTERS), atol=1e-5)
    assert torch.allclose(pairs, encoder.encode(PAIRS), atol=1e-5)


def test_cached_texts_skip_the_backbone(encoder: Encoder):
    calls: list[int] = []
    (routers, pairs), (r_again, p_again) = embed(encoder, calls)
    assert calls == [len(ROUTERS) + len(PAIRS)]  # the second call was served from the cache
    assert torch.equal(r_again[0], routers[0]) and torch.equal(p_again[0], pairs[0])


def test_router_texts_are_not_embedded_when_the_router_cannot_change_an_answer(encoder: Encoder):
    """prior_strength = 0: the router's logits are multiplied by 0, so the service embeds the pair
    texts only (zero rows for the routers) and the pair embeddings are unchanged."""
    calls: list[int] = []

    async def go():
        batcher = Batcher(encoder_forward(encoder), max_batch_size=8, max_batch_tokens=4096, max_wait_s=0.001,
                          max_queue=64)
        original = batcher.embed

        async def counting(items, lengths, tenant=None):
            calls.append(len(items))
            return await original(items, lengths, tenant=tenant)

        batcher.embed = counting  # type: ignore[method-assign]
        async with batcher:
            return await Embedder(encoder, batcher, cache_size=100, router_reads=False).embed(ROUTERS, PAIRS)

    routers, pairs = asyncio.run(go())
    assert calls == [len(PAIRS)]
    assert routers.shape == (len(ROUTERS), encoder.dim) and not routers.any()
    assert torch.allclose(pairs, encoder.encode(PAIRS), atol=1e-5)
