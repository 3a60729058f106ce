"""Rate limits (429) and load shedding (503 overloaded) of the real server, survived by the
client's retries."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

import memory_layer as ml


def test_twenty_calls_in_a_row_succeed_through_429s(rate_limited_server, tenant) -> None:
    statuses: Counter = Counter()

    def count(response: httpx.Response) -> None:
        statuses[response.status_code] += 1

    http = httpx.Client(timeout=10.0, event_hooks={"response": [count]})
    events: list = []
    with ml.MemoryClient(
        rate_limited_server.base_url, http_client=http, max_retries=5, on_retry=events.append
    ) as memory:
        stored = [memory.add(tenant, "c1", "user", f"message {i}") for i in range(10)]
        found = [memory.get(m.id) for m in stored]
        assert [m.id for m in found] == [m.id for m in stored]
    http.close()
    assert statuses[429] >= 1, "the server never throttled: the test proves nothing"
    assert statuses[429] == len(events) == sum(1 for e in events if e.code == "rate_limited")
    assert all(e.wait >= 1.0 for e in events)  # Retry-After is whole seconds, at least 1
    assert statuses[202] == 10 and statuses[200] == 10  # no write was stored twice


def test_no_retries_raises_rate_limited_with_retry_after(rate_limited_server, tenant) -> None:
    with ml.MemoryClient(rate_limited_server.base_url, max_retries=0) as memory:
        with pytest.raises(ml.RateLimited) as info:
            for _ in range(50):  # the burst is 5
                memory.list_page(tenant)
    e = info.value
    assert (e.status, e.code) == (429, "rate_limited")
    assert e.retry_after is not None and e.retry_after >= 1


async def test_concurrent_searches_survive_load_shedding(one_at_a_time_server, tenant) -> None:
    events: list = []
    async with ml.AsyncMemoryClient(
        one_at_a_time_server.base_url, max_retries=8, on_retry=events.append
    ) as memory:
        await memory.add_batch(
            tenant,
            [
                {"conversation_id": "c1", "role": "user", "content": text}
                for text in ("I love Python", "I cook risotto on Fridays", "My cat is called Miso")
            ],
        )
        queries = ["programming", "cooking", "pets", "python", "dinner", "animals"]
        # One-word queries match by meaning alone: below the default relevance threshold.
        results = await asyncio.gather(
            *(memory.search(tenant, q, top_k=1, min_relevance=0) for q in queries)
        )
    assert [len(r) for r in results] == [1] * len(queries)
    assert results[0][0].content == "I love Python"
    assert results[2][0].content == "My cat is called Miso"
    shed = [e for e in events if (e.status, e.code) == (503, "overloaded")]
    assert shed, "no request was shed: the test proves nothing"
    assert all(e.wait >= 5.0 for e in shed)  # Retry-After: 5
