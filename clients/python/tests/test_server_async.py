"""The asyncio client against the real server: the main flow."""

from __future__ import annotations

import uuid

import pytest

import memory_layer as ml


async def test_async_main_flow(server, tenant) -> None:
    async with ml.AsyncMemoryClient(server.base_url) as memory:
        assert (await memory.health()).ok
        python = await memory.add(
            tenant, "c1", "user", "I love Python programming", metadata={"source": "web"}
        )
        await memory.add(tenant, "c1", "user", "My sister lives in Berlin")
        batch = await memory.add_batch(
            tenant,
            [
                {"conversation_id": "c2", "role": "assistant", "content": f"reply {i}"}
                for i in range(5)
            ],
        )
        assert batch.created == 5

        assert (await memory.get(python.id)) == python
        hits = await memory.search(tenant, "coding in python", top_k=2)
        assert hits[0].message_id == python.id

        listed = [m.id async for m in memory.get_all(tenant, page_size=3)]
        assert len(listed) == len(set(listed)) == 7
        page = await memory.list_page(tenant, page_size=3)
        assert len(page) == 3 and page.next_cursor

        key = str(uuid.uuid4())
        edited = await memory.update(
            python.id, content="I love Rust programming", idempotency_key=key
        )
        replay = await memory.update(
            python.id, content="I love Rust programming", idempotency_key=key
        )
        assert replay.id == edited.id and replay.content == edited.content
        history = await memory.history(python.id)
        assert len(history) == 1 and history[0].new.content == "I love Rust programming"
        assert (await memory.search(tenant, "Rust", top_k=1))[0].message_id == python.id

        await memory.delete(python.id)
        with pytest.raises(ml.NotFound):
            await memory.get(python.id)
        with pytest.raises(ml.NotFound):
            await memory.delete(python.id)
        with pytest.raises(ml.ValidationError) as info:
            await memory.add(tenant, "c1", "robot", "beep")
        assert info.value.field("role") is not None
        assert (await memory.delete_all(tenant)).deleted == 6
