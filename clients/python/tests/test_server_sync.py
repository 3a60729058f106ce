"""The blocking client against the real server (no keys): every verb, real behaviour."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

import memory_layer as ml


@pytest.fixture
def memory(server) -> Iterator[ml.MemoryClient]:
    with ml.MemoryClient(server.base_url, max_retries=2) as client:
        yield client


def test_health(memory: ml.MemoryClient) -> None:
    h = memory.health()
    assert h.ok and h.database == "ok" and h.version
    assert h.environment == "python-client-main"


def test_add_get_and_search_finds_the_right_message_first(memory, tenant) -> None:
    python = memory.add(
        tenant,
        "conv-1",
        "user",
        "I love Python programming and machine learning",
        metadata={"source": "web", "user_id": "user-456"},
    )
    dish = memory.add(
        tenant, "conv-1", "assistant", "My favourite dish is grilled sardines with salad"
    )
    memory.add(tenant, "conv-2", "user", "Next week I am flying to Tokyo for a conference")

    assert python.tenant_id == tenant and python.role == "user"
    assert python.metadata == {"source": "web", "user_id": "user-456"}
    assert python.embedding_status == "completed" and 0.0 <= python.importance_score <= 1.0
    assert python.created_at.tzinfo is not None and not python.archived

    got = memory.get(python.id)
    assert got == python  # every field equal (raw JSON is not compared)

    # The default threshold leaves out the unrelated memory of another conversation, and
    # says so; the turn next to the relevant one comes with it, whatever its own relevance.
    relevant = memory.search(tenant, "Which programming language do I like?", top_k=3)
    assert [h.message_id for h in relevant] == [python.id, dish.id]
    assert relevant.min_relevance == 0.3 and relevant.below_min_relevance == 1
    assert relevant[0].relevance > 0.3 > relevant[1].relevance

    results = memory.search(
        tenant, "Which programming language do I like?", top_k=3, min_relevance=0
    )
    assert results.mode == "hybrid" and results.pending_embeddings == 0
    assert results.total == len(results.items) == 3 and results.below_min_relevance == 0
    best = results[0]
    assert best.message_id == python.id
    assert best.content == python.content and best.conversation_id == "conv-1"
    for hit in results:
        for value in (hit.score, hit.similarity, hit.decay, hit.importance, hit.relevance):
            assert isinstance(value, float)
    assert results[0].score >= results[1].score >= results[2].score
    assert best.similarity > results[1].similarity


def test_search_scopes_and_filters(memory, tenant) -> None:
    memory.add(
        tenant, "c1", "user", "I play tennis every Sunday", metadata={"source": "web", "n": 1}
    )
    memory.add(tenant, "c2", "user", "I play chess on Mondays", metadata={"source": "app", "n": 2})
    by_metadata = memory.search(
        tenant, "games I play", filters={"source": "app"}, min_relevance=0
    )
    assert [h.content for h in by_metadata] == ["I play chess on Mondays"]
    by_operator = memory.search(
        tenant, "games I play", filters={"n": {"gte": 1}}, mode="vector", min_relevance=0
    )
    assert len(by_operator) == 2 and by_operator.mode == "vector"
    assert all(h.lexical is None for h in by_operator)
    by_conversation = memory.search(tenant, "games", conversation_id="c1", mode="lexical")
    assert by_conversation.mode == "lexical"
    assert all(h.conversation_id == "c1" for h in by_conversation)
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert len(memory.search(tenant, "games", created_after=future)) == 0


def test_get_all_pages_through_without_repeats(memory, tenant) -> None:
    batch = memory.add_batch(
        tenant,
        [
            {
                "conversation_id": f"c{i % 2}",
                "role": "user",
                "content": f"note number {i}",
                "created_at": datetime(2024, 3, 1, 9, i, tzinfo=timezone.utc),
            }
            for i in range(12)
        ],
    )
    assert batch.created == 12 and batch.failed == 0
    first = memory.list_page(tenant, page_size=5)
    assert len(first) == 5 and first.next_cursor
    second = memory.list_page(tenant, page_size=5, cursor=first.next_cursor)
    assert not {m.id for m in first} & {m.id for m in second}

    listed = list(memory.get_all(tenant, page_size=5))
    assert [m.content for m in listed] == [f"note number {i}" for i in range(12)]
    assert len({m.id for m in listed}) == 12
    assert listed[0].created_at == datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)

    newest_first = [m.id for m in memory.get_all(tenant, order="desc", page_size=4)]
    assert newest_first == [m.id for m in reversed(listed)]
    only_c1 = list(memory.get_all(tenant, conversation_id="c1", page_size=2))
    assert len(only_c1) == 6 and all(m.conversation_id == "c1" for m in only_c1)
    assert list(memory.get_all(tenant, archived=True)) == []


def test_update_is_searchable_and_recorded_in_history(memory, tenant) -> None:
    m = memory.add(tenant, "c1", "user", "I live in Porto", metadata={"city": "porto", "v": 1})
    updated = memory.update(
        m.id,
        content="I moved to Lisbon in 2024",
        metadata={"city": "lisbon", "v": None},
        metadata_mode="merge",
    )
    assert updated.id == m.id and updated.content == "I moved to Lisbon in 2024"
    assert updated.metadata == {"city": "lisbon"}
    assert updated.updated_at > m.updated_at

    hits = memory.search(tenant, "Lisbon")
    assert hits[0].message_id == m.id and hits[0].content == "I moved to Lisbon in 2024"
    assert memory.get(m.id).content == "I moved to Lisbon in 2024"

    rescored = memory.update(m.id, importance_override=1.0)
    assert rescored.importance_score > updated.importance_score
    cleared = memory.update(m.id, importance_override=ml.CLEAR)
    assert cleared.importance_score < rescored.importance_score

    history = memory.history(m.id)
    assert len(history) == 3
    first = history[0]
    assert set(first.changed) >= {"content", "metadata"}
    assert (
        first.old.content == "I live in Porto" and first.new.content == "I moved to Lisbon in 2024"
    )
    assert first.old.metadata == {"city": "porto", "v": 1}
    assert first.actor == "anonymous" and first.at.tzinfo is not None
    assert history[1].changed == ("importance_score",)


def test_delete_then_not_found_twice(memory, tenant) -> None:
    m = memory.add(tenant, "c1", "user", "a memory to forget")
    assert memory.delete(m.id) is None
    with pytest.raises(ml.NotFound) as info:
        memory.get(m.id)
    assert info.value.status == 404 and info.value.code == "not_found"
    with pytest.raises(ml.NotFound):
        memory.delete(m.id)
    with pytest.raises(ml.NotFound):
        memory.history(m.id)


def test_unknown_and_malformed_ids(memory) -> None:
    with pytest.raises(ml.NotFound):
        memory.get(uuid.uuid4())
    with pytest.raises(ml.ValidationError) as info:
        memory.get("not-a-uuid")
    assert info.value.field("message_id") is not None


def test_batch_stores_good_items_and_reports_the_bad_one(memory, tenant) -> None:
    result = memory.add_batch(
        tenant,
        [
            {
                "conversation_id": "c1",
                "role": "user",
                "content": "I moved to Lisbon",
                "created_at": "2024-03-01T09:00:00Z",
                "metadata": {"k": 1},
            },
            {"conversation_id": "c1", "role": "robot", "content": "bad role"},
            {"conversation_id": "c1", "role": "assistant", "content": "How do you like it?"},
        ],
    )
    assert (result.tenant_id, result.created, result.failed, result.replayed) == (
        tenant,
        2,
        1,
        False,
    )
    good0, bad, good2 = result.results
    assert good0.ok and good0.status == 201 and good0.embedding_status == "completed"
    assert not bad.ok and bad.status == 422 and bad.id is None
    assert bad.error is not None and bad.error.code == "validation_error"
    assert [d.field for d in bad.error.details] == ["role"]
    assert result.failures == [bad]
    assert memory.get(good0.id).created_at == datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
    assert memory.get(good2.id).role == "assistant"


def test_batch_replays_with_the_same_key(memory, tenant) -> None:
    items = [{"conversation_id": "c1", "role": "user", "content": f"import {i}"} for i in range(3)]
    key = f"import-{uuid.uuid4()}"
    first = memory.add_batch(tenant, items, idempotency_key=key)
    again = memory.add_batch(tenant, items, idempotency_key=key)
    assert again.replayed and not first.replayed and again.ids == first.ids
    assert len(list(memory.get_all(tenant))) == 3


def test_idempotent_add(memory, tenant) -> None:
    key = f"add-{uuid.uuid4()}"
    first = memory.add(tenant, "c1", "user", "remember me once", idempotency_key=key)
    second = memory.add(tenant, "c1", "user", "remember me once", idempotency_key=key)
    assert second.id == first.id
    assert [m.id for m in memory.get_all(tenant)] == [first.id]
    with pytest.raises(ml.IdempotencyKeyReused) as info:
        memory.add(tenant, "c1", "user", "something else", idempotency_key=key)
    assert isinstance(info.value, ml.Conflict)
    assert (info.value.status, info.value.code) == (409, "idempotency_key_reused")


def test_validation_error_names_the_field(memory, tenant) -> None:
    with pytest.raises(ml.ValidationError) as info:
        memory.add(tenant, "c1", "robot", "hello")
    e = info.value
    assert e.status == 422 and e.code == "validation_error" and e.request_id
    assert [d.field for d in e.details] == ["role"]
    assert "robot" in e.field("role").rule
    with pytest.raises(ml.ValidationError) as several:
        memory.search(tenant, "   ", top_k=0)
    assert {d.field for d in several.value.details} >= {"query", "top_k"}


def test_erasure_of_a_conversation_and_a_tenant(memory, tenant) -> None:
    memory.add(tenant, "keep", "user", "kept")
    for i in range(3):
        memory.add(tenant, "drop", "user", f"dropped {i}")
    erased = memory.delete_conversation(tenant, "drop")
    assert (erased.tenant_id, erased.conversation_id, erased.deleted) == (tenant, "drop", 3)
    assert memory.delete_conversation(tenant, "drop").deleted == 0
    assert [m.content for m in memory.get_all(tenant)] == ["kept"]
    everything = memory.delete_all(tenant)
    assert (everything.tenant_id, everything.deleted) == (tenant, 1)
    assert list(memory.get_all(tenant)) == []


def test_retention_dry_run(memory, tenant) -> None:
    memory.add(tenant, "c1", "user", "hello")
    r = memory.run_retention(tenant, dry_run=True)
    assert r.dry_run and r.archived >= 0 and r.deleted >= 0
