"""The asyncio client: a thin driver of :func:`memory_layer._core.exchange` over
``httpx.AsyncClient`` and ``asyncio.sleep``. Same verbs, arguments and answers as
:class:`memory_layer.MemoryClient` (documented there)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
)

import httpx

from ._core import (
    ClientConfig,
    Operation,
    Operations,
    RetryEvent,
    Send,
    _Clear,
    exchange,
    make_config,
)
from .models import (
    BatchResult,
    Erasure,
    Health,
    HistoryEntry,
    Message,
    MessagePage,
    RetentionResult,
    SearchResults,
)

T = TypeVar("T")

__all__ = ["AsyncMemoryClient"]


class AsyncMemoryClient:
    """Client of the AI Memory Layer REST API for asyncio; see :class:`MemoryClient` for
    the arguments. Use ``async with`` or ``await client.aclose()``. :meth:`get_all` is an
    async iterator (``async for m in client.get_all(...)``)."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: Optional[float] = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        *,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        on_retry: Optional[Callable[[RetryEvent], None]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._config: ClientConfig = make_config(
            base_url, api_key, timeout, max_retries, max_retry_wait, on_retry, headers
        )
        self._ops = Operations()
        if http_client is not None:
            if transport is not None:
                raise ValueError("pass either transport or http_client, not both")
            self._http = http_client
            self._owns_http = False
        else:
            self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
            self._owns_http = True

    # --- plumbing --------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _run(self, op: Operation[T]) -> T:
        cfg = self._config
        steps = exchange(op, cfg.policy, cfg.rng, cfg.on_retry)
        step = next(steps)
        while True:
            if isinstance(step, Send):
                request = cfg.build(self._http, step.operation)
                try:
                    outcome: Any = await self._http.send(request)
                except httpx.TransportError as e:
                    outcome = e
            else:
                await self._sleep(step.seconds)
                outcome = None
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Closes the connections (unless the ``httpx.AsyncClient`` was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncMemoryClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncMemoryClient({self._config.base_url!r})"

    # --- the verbs -------------------------------------------------------------------------

    async def add(
        self,
        tenant_id: str,
        conversation_id: str,
        role: str,
        content: str,
        metadata: Optional[Mapping[str, Any]] = None,
        importance_override: Optional[float] = None,
        created_at: Union[datetime, str, None] = None,
        idempotency_key: Optional[str] = None,
    ) -> Message:
        return await self._run(
            self._ops.add(
                tenant_id,
                conversation_id,
                role,
                content,
                metadata,
                importance_override,
                created_at,
                idempotency_key,
            )
        )

    async def add_batch(
        self,
        tenant_id: str,
        messages: Iterable[Mapping[str, Any]],
        idempotency_key: Optional[str] = None,
    ) -> BatchResult:
        return await self._run(self._ops.add_batch(tenant_id, messages, idempotency_key))

    async def search(
        self,
        tenant_id: str,
        query: str,
        top_k: Optional[int] = None,
        conversation_id: Optional[str] = None,
        mode: Optional[str] = None,
        filters: Optional[Mapping[str, Any]] = None,
        created_after: Union[datetime, str, None] = None,
        created_before: Union[datetime, str, None] = None,
        importance_min: Optional[float] = None,
        candidate_limit: Optional[int] = None,
        min_relevance: Optional[float] = None,
    ) -> SearchResults:
        return await self._run(
            self._ops.search(
                tenant_id,
                query,
                top_k,
                conversation_id,
                mode,
                filters,
                created_after,
                created_before,
                importance_min,
                candidate_limit,
                min_relevance,
            )
        )

    async def get(self, message_id: Any) -> Message:
        return await self._run(self._ops.get(message_id))

    async def list_page(
        self,
        tenant_id: str,
        conversation_id: Optional[str] = None,
        role: Optional[str] = None,
        archived: Optional[bool] = None,
        created_after: Union[datetime, str, None] = None,
        created_before: Union[datetime, str, None] = None,
        order: Optional[str] = None,
        page_size: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> MessagePage:
        return await self._run(
            self._ops.list_page(
                tenant_id,
                conversation_id,
                role,
                archived,
                created_after,
                created_before,
                order,
                page_size,
                cursor,
            )
        )

    async def get_all(
        self,
        tenant_id: str,
        conversation_id: Optional[str] = None,
        role: Optional[str] = None,
        archived: Optional[bool] = None,
        created_after: Union[datetime, str, None] = None,
        created_before: Union[datetime, str, None] = None,
        order: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> AsyncIterator[Message]:
        cursor: Optional[str] = None
        while True:
            page = await self.list_page(
                tenant_id,
                conversation_id,
                role,
                archived,
                created_after,
                created_before,
                order,
                page_size,
                cursor,
            )
            for message in page.messages:
                yield message
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def update(
        self,
        message_id: Any,
        content: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        metadata_mode: Optional[str] = None,
        importance_override: Union[float, _Clear, None] = None,
        idempotency_key: Optional[str] = None,
    ) -> Message:
        return await self._run(
            self._ops.update(
                message_id, content, metadata, metadata_mode, importance_override, idempotency_key
            )
        )

    async def delete(self, message_id: Any) -> None:
        return await self._run(self._ops.delete(message_id))

    async def history(self, message_id: Any) -> List[HistoryEntry]:
        return await self._run(self._ops.history(message_id))

    async def delete_conversation(self, tenant_id: str, conversation_id: str) -> Erasure:
        return await self._run(self._ops.delete_conversation(tenant_id, conversation_id))

    async def delete_all(self, tenant_id: str) -> Erasure:
        return await self._run(self._ops.delete_all(tenant_id))

    async def run_retention(
        self,
        tenant_id: str,
        actions: Sequence[str] = ("archive", "delete"),
        dry_run: bool = False,
    ) -> RetentionResult:
        return await self._run(self._ops.run_retention(tenant_id, actions, dry_run))

    async def tenants(self) -> Dict[str, Any]:
        return await self._run(self._ops.tenants())

    async def conversations(
        self, tenant_id: str, page_size: Optional[int] = None, cursor: Optional[str] = None
    ) -> Dict[str, Any]:
        return await self._run(self._ops.conversations(tenant_id, page_size, cursor))

    async def retention_preview(
        self, tenant_id: str, sample: Optional[int] = None
    ) -> Dict[str, Any]:
        return await self._run(self._ops.retention_preview(tenant_id, sample))

    async def health(self) -> Health:
        return await self._run(self._ops.health())
