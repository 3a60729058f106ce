"""The retry decision, the backoff and the error mapping, without a server
(httpx.MockTransport). The waits are recorded instead of slept."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime as http_date
from typing import List, Optional

import httpx
import pytest

import memory_layer as ml
from memory_layer._core import RetryPolicy, parse_retry_after

BASE = "http://memory.test"

MESSAGE = {
    "id": "0193a1d6-8c1e-7b3a-9d52-3f0e8f7a2c11",
    "tenant_id": "acme",
    "conversation_id": "conv-123",
    "role": "user",
    "content": "I love Python",
    "metadata": {"source": "web"},
    "importance_score": 0.72,
    "embedding_status": "completed",
    "archived": False,
    "created_at": "2025-11-14T20:30:00.123456Z",
    "updated_at": "2025-11-14T20:30:00.131002Z",
}


def error(status: int, code: str, retry_after: Optional[str] = None, **extra) -> httpx.Response:
    headers = {"x-request-id": f"req-{status}"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = {"code": code, "message": f"{code} happened", "details": extra.get("details", [])}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """A MockTransport handler answering from a list, recording each request."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: List[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def client(script: Script, sleeps: Optional[list] = None, **kw) -> ml.MemoryClient:
    c = ml.MemoryClient(BASE, transport=httpx.MockTransport(script), **kw)
    c._sleep = (sleeps if sleeps is not None else []).append  # type: ignore[method-assign]
    return c


# --- the pure policy -----------------------------------------------------------------------


def test_policy_does_not_retry_what_is_not_retriable_or_spent() -> None:
    p = RetryPolicy(max_retries=3)
    assert p.wait(0, False, None) is None
    assert p.wait(3, True, None) is None
    assert p.wait(2, True, None) is not None


def test_policy_honours_retry_after_with_up_to_ten_percent_jitter() -> None:
    p = RetryPolicy(max_retry_wait=30)
    rng = random.Random(1)
    waits = [p.wait(0, True, 5.0, rng) for _ in range(500)]
    assert all(5.0 <= w <= 5.5 for w in waits)
    assert max(waits) - min(waits) > 0.3  # really jittered
    small = [p.wait(0, True, 0.0, rng) for _ in range(500)]
    assert all(0.0 <= w <= 0.05 for w in small) and max(small) > 0.02  # at least 0-50 ms


def test_policy_gives_up_at_once_when_retry_after_exceeds_the_cap() -> None:
    assert RetryPolicy(max_retry_wait=10).wait(0, True, 11.0) is None
    assert RetryPolicy(max_retry_wait=10).wait(0, True, 10.0) is not None


def test_policy_backs_off_exponentially_with_full_jitter_capped() -> None:
    p = RetryPolicy(max_retries=10, max_retry_wait=1.5)
    rng = random.Random(7)
    for attempt, ceiling in [(0, 0.25), (1, 0.5), (2, 1.0), (3, 1.5), (6, 1.5)]:
        waits = [p.wait(attempt, True, None, rng) for _ in range(400)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling and min(waits) < 0.2 * ceiling


def test_retry_after_parsing() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after(http_date(now + timedelta(seconds=120), usegmt=True), now) == 120.0


# --- the loop, through the sync client ------------------------------------------------------


def test_429_is_retried_after_retry_after_with_the_same_idempotency_key_and_body() -> None:
    script = Script(
        error(429, "rate_limited", "1"),
        error(503, "overloaded", "2"),
        httpx.Response(202, json=MESSAGE),
    )
    sleeps: list = []
    events: list = []
    with client(script, sleeps, on_retry=events.append) as c:
        m = c.add("acme", "conv-123", "user", "I love Python", metadata={"source": "web"})
    assert m.id == MESSAGE["id"] and m.metadata == {"source": "web"}
    assert len(script.requests) == 3
    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert len(keys) == 1 and uuid.UUID(keys.pop()).version == 4
    assert len({r.content for r in script.requests}) == 1
    assert 1.0 <= sleeps[0] <= 1.1 and 2.0 <= sleeps[1] <= 2.2
    assert [(e.retry, e.status, e.code) for e in events] == [
        (1, 429, "rate_limited"),
        (2, 503, "overloaded"),
    ]


def test_each_call_gets_its_own_key_and_a_callers_key_is_kept() -> None:
    script = Script(*(httpx.Response(202, json=MESSAGE) for _ in range(3)))
    with client(script) as c:
        c.add("acme", "c", "user", "x")
        c.add("acme", "c", "user", "x")
        c.add("acme", "c", "user", "x", idempotency_key="mine-1")
    keys = [r.headers["idempotency-key"] for r in script.requests]
    assert keys[0] != keys[1] and keys[2] == "mine-1"


def test_a_key_that_cannot_be_sent_is_refused_before_sending() -> None:
    script = Script()
    with client(script) as c, pytest.raises(ValueError):
        c.add("acme", "c", "user", "x", idempotency_key="clé")
    assert script.requests == []
    with pytest.raises(ValueError):
        ml.MemoryClient(BASE, api_key="clé")
    with pytest.raises(ValueError):
        ml.MemoryClient("localhost:8000")


@pytest.mark.parametrize("status,code", [(502, "bad_gateway"), (504, "timeout")])
def test_502_and_504_are_retried_with_backoff(status: int, code: str) -> None:
    script = Script(error(status, code), httpx.Response(200, json=MESSAGE))
    sleeps: list = []
    with client(script, sleeps) as c:
        assert c.get(MESSAGE["id"]).content == "I love Python"
    assert len(sleeps) == 1 and 0.0 <= sleeps[0] <= 0.25


@pytest.mark.parametrize(
    "status,code,cls",
    [
        (400, "invalid_json", ml.BadRequest),
        (401, "unauthorized", ml.Unauthorized),
        (403, "forbidden", ml.Forbidden),
        (404, "not_found", ml.NotFound),
        (409, "conflict", ml.Conflict),
        (409, "idempotency_key_reused", ml.IdempotencyKeyReused),
        (413, "payload_too_large", ml.PayloadTooLarge),
        (422, "validation_error", ml.ValidationError),
        (500, "internal", ml.ServerError),
        (501, "not_supported", ml.ServerError),
    ],
)
def test_other_errors_are_not_retried(status: int, code: str, cls: type) -> None:
    script = Script(error(status, code))
    sleeps: list = []
    with client(script, sleeps) as c, pytest.raises(cls) as info:
        c.get(MESSAGE["id"])
    assert len(script.requests) == 1 and sleeps == []
    e = info.value
    assert (e.status, e.code, e.request_id) == (status, code, f"req-{status}")
    assert isinstance(e, ml.ApiError) and isinstance(e, ml.MemoryLayerError)


def test_503_codes_map_to_unavailable_and_overloaded() -> None:
    script = Script(error(503, "unavailable", "5"), error(503, "overloaded", "5"))
    with client(script, max_retries=0) as c:
        with pytest.raises(ml.Unavailable) as a:
            c.get(MESSAGE["id"])
        assert not isinstance(a.value, ml.Overloaded)
        with pytest.raises(ml.Overloaded) as b:
            c.get(MESSAGE["id"])
    assert isinstance(b.value, ml.Unavailable) and b.value.retry_after == 5.0


def test_retries_are_bounded_and_the_last_error_is_raised() -> None:
    script = Script(*(error(429, "rate_limited", "1") for _ in range(4)))
    sleeps: list = []
    with client(script, sleeps, max_retries=3) as c, pytest.raises(ml.RateLimited) as info:
        c.search("acme", "python")
    assert len(script.requests) == 4 and len(sleeps) == 3
    assert info.value.retry_after == 1.0


def test_max_retries_zero_raises_rate_limited_with_retry_after() -> None:
    script = Script(error(429, "rate_limited", "3"))
    sleeps: list = []
    with client(script, sleeps, max_retries=0) as c, pytest.raises(ml.RateLimited) as info:
        c.search("acme", "python")
    assert info.value.retry_after == 3.0 and sleeps == []


def test_a_retry_after_beyond_the_cap_raises_at_once() -> None:
    script = Script(error(429, "rate_limited", "60"))
    sleeps: list = []
    with client(script, sleeps, max_retry_wait=30) as c, pytest.raises(ml.RateLimited) as info:
        c.get(MESSAGE["id"])
    assert sleeps == [] and len(script.requests) == 1 and info.value.retry_after == 60.0


def test_transport_errors_are_retried_then_raised_as_transport_error() -> None:
    script = Script(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
        httpx.ReadError("reset by peer"),
    )
    events: list = []
    with client(script, on_retry=events.append) as c, pytest.raises(ml.TransportError) as info:
        c.get(MESSAGE["id"])
    assert len(script.requests) == 4 and info.value.attempts == 4
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert [e.status for e in events] == [None, None, None]


def test_a_transport_error_then_success() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(202, json=MESSAGE))
    with client(script) as c:
        assert c.add("acme", "c", "user", "x").id == MESSAGE["id"]
    assert (
        script.requests[0].headers["idempotency-key"]
        == script.requests[1].headers["idempotency-key"]
    )


def test_an_unsupported_url_is_not_retried() -> None:
    script = Script(httpx.UnsupportedProtocol("ftp?"))
    with client(script) as c, pytest.raises(ml.TransportError):
        c.get(MESSAGE["id"])
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "first", [httpx.ReadTimeout("lost"), error(503, "unavailable", "0"), error(504, "timeout")]
)
def test_delete_404_after_an_ambiguous_attempt_is_success(first) -> None:
    script = Script(first, error(404, "not_found"))
    with client(script) as c:
        assert c.delete(MESSAGE["id"]) is None
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]


def test_delete_404_is_not_found_otherwise() -> None:
    script = Script(
        error(404, "not_found"), error(429, "rate_limited", "0"), error(404, "not_found")
    )
    with client(script) as c:
        with pytest.raises(ml.NotFound):
            c.delete(MESSAGE["id"])
        with pytest.raises(ml.NotFound):  # a 429 was not carried out: the 404 is real
            c.delete(MESSAGE["id"])


def test_a_non_json_error_body_still_gives_the_status() -> None:
    script = Script(
        httpx.Response(502, text="<html>Bad Gateway</html>"), httpx.Response(418, text="")
    )
    with client(script, max_retries=0) as c:
        with pytest.raises(ml.ServerError) as a:
            c.get(MESSAGE["id"])
        with pytest.raises(ml.ApiError) as b:
            c.get(MESSAGE["id"])
    assert (a.value.status, a.value.code) == (502, None) and "Bad Gateway" in a.value.message
    assert (b.value.status, b.value.code) == (418, None)


def test_validation_details_are_parsed() -> None:
    details = [{"field": "role", "rule": "must be one of user, assistant, system"}]
    script = Script(error(422, "validation_error", details=details))
    with client(script) as c, pytest.raises(ml.ValidationError) as info:
        c.add("acme", "c", "robot", "x")
    assert info.value.details == (ml.FieldError("role", "must be one of user, assistant, system"),)
    assert info.value.field("role") is not None and "role" in str(info.value)


def test_health_answers_a_degraded_server_without_raising() -> None:
    degraded = {
        "status": "degraded",
        "database": "down",
        "timestamp": "2025-01-01T00:00:00Z",
        "latency_ms": 5000.0,
        "uptime_seconds": 3,
        "environment": "t",
        "version": "0.1.0",
    }
    script = Script(httpx.Response(503, json=degraded, headers={"retry-after": "5"}))
    with client(script) as c:
        h = c.health()
    assert not h.ok and h.database == "down" and len(script.requests) == 1


# --- what goes on the wire -----------------------------------------------------------------


def test_requests_carry_the_documented_shapes() -> None:
    page = {"messages": [MESSAGE], "next_cursor": None}
    script = Script(
        httpx.Response(
            200, json={"total": 0, "items": [], "mode": "hybrid", "pending_embeddings": 0}
        ),
        httpx.Response(200, json=page),
        httpx.Response(200, json=MESSAGE),
        httpx.Response(200, json=MESSAGE),
        httpx.Response(204),
        httpx.Response(200, json={"tenant_id": "acme", "conversation_id": "a/b", "deleted": 2}),
    )
    with client(script, api_key="k-1") as c:
        c.search(
            "acme",
            "python",
            top_k=3,
            filters={"source": "web"},
            created_after=datetime(2024, 1, 1, tzinfo=timezone.utc),
        )
        c.list_page("acme", archived=False, page_size=2, cursor="c1")
        c.update(MESSAGE["id"], importance_override=ml.CLEAR)
        c.update(MESSAGE["id"], metadata={"x": None}, metadata_mode="merge")
        c.delete(MESSAGE["id"])
        erased = c.delete_conversation("acme", "a/b")
    search, listing, clear, merge, delete, erase = script.requests
    assert all(r.headers["x-api-key"] == "k-1" for r in script.requests)
    assert (search.method, search.url.path) == ("POST", "/v1/memory/search")
    assert json.loads(search.content) == {
        "tenant_id": "acme",
        "query": "python",
        "top_k": 3,
        "filters": {"source": "web"},
        "created_after": "2024-01-01T00:00:00Z",
    }
    assert "idempotency-key" not in search.headers
    assert dict(listing.url.params) == {
        "tenant_id": "acme",
        "archived": "false",
        "limit": "2",
        "cursor": "c1",
    }
    assert json.loads(clear.content) == {"importance_override": None}
    assert clear.method == "PATCH" and "idempotency-key" in clear.headers
    assert json.loads(merge.content) == {"metadata": {"x": None}, "metadata_mode": "merge"}
    assert delete.method == "DELETE" and delete.url.path == f"/v1/messages/{MESSAGE['id']}"
    assert erase.url.raw_path == b"/v1/conversations/a%2Fb?tenant_id=acme"
    assert erased.deleted == 2


def test_answers_tolerate_unknown_fields_and_parse_timestamps() -> None:
    newer = dict(MESSAGE, created_at="2025-11-14T20:30:00.123456789Z", shiny_new_field=[1])
    m = ml.Message.from_json(newer)
    assert m.created_at == datetime(2025, 11, 14, 20, 30, 0, 123456, tzinfo=timezone.utc)
    assert m.raw["shiny_new_field"] == [1]
    offset = ml.Message.from_json(dict(MESSAGE, updated_at="2025-11-14T22:30:00+02:00"))
    assert offset.updated_at == datetime(2025, 11, 14, 20, 30, tzinfo=timezone.utc)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.content = "frozen"  # type: ignore[misc]


# --- the async client shares the loop ---------------------------------------------------------


async def test_async_client_retries_the_same_way() -> None:
    script = Script(
        error(429, "rate_limited", "1"), httpx.ConnectError("x"), httpx.Response(202, json=MESSAGE)
    )
    sleeps: list = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async with ml.AsyncMemoryClient(BASE, transport=httpx.MockTransport(script)) as c:
        c._sleep = record  # type: ignore[method-assign]
        m = await c.add("acme", "c", "user", "x")
    assert m.id == MESSAGE["id"] and len(sleeps) == 2 and 1.0 <= sleeps[0] <= 1.1
    assert len({r.headers["idempotency-key"] for r in script.requests}) == 1


async def test_async_get_all_follows_cursors() -> None:
    def page(ids, cursor):
        return httpx.Response(
            200, json={"messages": [dict(MESSAGE, id=i) for i in ids], "next_cursor": cursor}
        )

    script = Script(page(["a", "b"], "c1"), page(["c"], None))
    async with ml.AsyncMemoryClient(BASE, transport=httpx.MockTransport(script)) as c:
        ids = [m.id async for m in c.get_all("acme", page_size=2)]
    assert ids == ["a", "b", "c"]
    assert script.requests[1].url.params["cursor"] == "c1"
