"""The server's MCP endpoint (``/mcp``), driven by the official MCP Python SDK from PyPI: a
real MCP client from outside the project, over streamable HTTP, against the real release
binary (real model, embedded store). Initialise, list the tools, add and search, and the
isolation of tenant-bound keys."""

from __future__ import annotations

import json
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import pytest

if sys.version_info < (3, 10):  # pragma: no cover - the SDK needs 3.10
    pytest.skip("the MCP SDK needs Python 3.10+", allow_module_level=True)

import httpx2  # the SDK's HTTP client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


@asynccontextmanager
async def mcp_session(
    base_url: str, api_key: Optional[str] = None, statuses: Optional[List[int]] = None
) -> AsyncIterator[ClientSession]:
    """An initialised session; `statuses` collects the HTTP status of every answer."""
    headers = {"x-api-key": api_key} if api_key else {}

    async def record(response: Any) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with httpx2.AsyncClient(
        headers=headers, timeout=30.0, event_hooks={"response": [record]}
    ) as http:
        async with streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call(session: ClientSession, tool: str, args: Dict[str, Any]) -> Tuple[bool, Any]:
    """(is_error, the JSON answer), checking the text and the structured content agree."""
    result = await session.call_tool(tool, args)
    text = json.loads(result.content[0].text)
    assert text == result.structured_content
    return result.is_error, result.structured_content


async def test_initialise_and_list_the_tools(server) -> None:
    async with mcp_session(server.base_url) as session:
        info = session.initialize_result
        assert info is not None
        assert info.server_info.name == "ai-memory-layer"
        assert info.capabilities.tools is not None
        assert "search_memory" in (info.instructions or "")
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) >= {
            "add_memory",
            "search_memory",
            "get_memory",
            "delete_memory",
            "list_memories",
            "update_memory",
        }
        add = tools["add_memory"].input_schema
        assert add["required"] == ["tenant_id", "conversation_id", "content"]
        assert tools["search_memory"].annotations.read_only_hint is True
        assert tools["delete_memory"].annotations.destructive_hint is True


async def test_an_agent_adds_then_finds_its_memories(server, tenant) -> None:
    async with mcp_session(server.base_url) as session:
        facts = [
            "My daughter Ana starts school in Lisbon in September",
            "I am allergic to peanuts",
            "Our team standup is at 9:30 every weekday",
        ]
        ids = []
        for fact in facts:
            is_error, stored = await call(
                session,
                "add_memory",
                {"tenant_id": tenant, "conversation_id": "chat-1", "content": fact},
            )
            assert not is_error, stored
            assert stored["embedding_status"] == "completed"
            ids.append(stored["id"])

        is_error, found = await call(
            session,
            "search_memory",
            {"tenant_id": tenant, "query": "what food must I avoid?", "top_k": 2},
        )
        assert not is_error
        assert found["items"][0]["message_id"] == ids[1]
        assert found["items"][0]["content"] == "I am allergic to peanuts"
        assert all(isinstance(i["score"], float) for i in found["items"])

        is_error, got = await call(session, "get_memory", {"message_id": ids[0]})
        assert not is_error and got["content"] == facts[0]
        is_error, page = await call(session, "list_memories", {"tenant_id": tenant, "limit": 2})
        assert not is_error and len(page["messages"]) == 2 and page["next_cursor"]

        is_error, _ = await call(session, "delete_memory", {"message_id": ids[2]})
        assert not is_error
        is_error, gone = await call(session, "get_memory", {"message_id": ids[2]})
        assert is_error and gone["code"] == "not_found"

        is_error, bad = await call(
            session, "add_memory", {"tenant_id": tenant, "conversation_id": "c", "content": ""}
        )
        assert is_error and bad["code"] == "validation_error"
        assert [d["field"] for d in bad["details"]] == ["content"]


async def test_a_tenant_bound_key_never_reaches_another_tenant(auth_server, tenant) -> None:
    # `tenant` is another tenant than the one acme-key is bound to.
    async with mcp_session(auth_server.base_url, "admin-key") as admin:
        is_error, secret = await call(
            admin,
            "add_memory",
            {"tenant_id": tenant, "conversation_id": "g", "content": "globex merger plans"},
        )
        assert not is_error
    async with mcp_session(auth_server.base_url, "acme-key") as acme:
        is_error, e = await call(
            acme, "search_memory", {"tenant_id": tenant, "query": "merger plans"}
        )
        assert is_error and e["code"] == "forbidden"
        is_error, e = await call(
            acme, "add_memory", {"tenant_id": tenant, "conversation_id": "g", "content": "x"}
        )
        assert is_error and e["code"] == "forbidden"
        for tool in ("get_memory", "delete_memory"):
            is_error, e = await call(acme, tool, {"message_id": secret["id"]})
            assert is_error and e["code"] == "not_found", tool
        is_error, own = await call(
            acme, "add_memory", {"tenant_id": "acme", "conversation_id": "a", "content": "ok"}
        )
        assert not is_error and own["tenant_id"] == "acme"
    async with mcp_session(auth_server.base_url, "admin-key") as admin:
        is_error, still = await call(admin, "get_memory", {"message_id": secret["id"]})
        assert not is_error and still["content"] == "globex merger plans"


async def test_without_a_key_the_session_is_refused(auth_server) -> None:
    statuses: List[int] = []
    with pytest.raises(BaseException):
        async with mcp_session(auth_server.base_url, statuses=statuses):
            pass
    assert statuses == [401], statuses
    statuses.clear()
    with pytest.raises(BaseException):
        async with mcp_session(auth_server.base_url, "wrong-key", statuses=statuses):
            pass
    assert statuses == [401], statuses
