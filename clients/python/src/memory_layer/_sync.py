"""The blocking client: a thin driver of :func:`memory_layer._core.exchange` over
``httpx.Client`` and ``time.sleep``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
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

__all__ = ["MemoryClient"]


class MemoryClient:
    """Client of the AI Memory Layer REST API (blocking).

    One ``httpx.Client`` per instance, so connections are reused; close it with
    :meth:`close` or use the client as a context manager. Every write carries an
    ``Idempotency-Key`` and failed attempts are retried (see the package README).

    Args:
        base_url: the server, e.g. ``http://localhost:8000``.
        api_key: sent as ``x-api-key`` when given.
        timeout: seconds for each attempt (connect, read, write, pool); ``None``: no limit.
        max_retries: retries after the first attempt (0: none).
        max_retry_wait: the longest single wait; a ``Retry-After`` longer than this is
            not waited for: the error is raised at once with its ``retry_after``.
        transport: an httpx transport (tests: ``httpx.MockTransport``).
        http_client: an ``httpx.Client`` of your own, used as it is (its timeout, not
            ``timeout``) and not closed by :meth:`close`.
        on_retry: called with a :class:`~memory_layer.RetryEvent` before each wait.
        headers: extra headers for every request.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: Optional[float] = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        *,
        transport: Optional[httpx.BaseTransport] = None,
        http_client: Optional[httpx.Client] = None,
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
            self._http = httpx.Client(timeout=timeout, transport=transport)
            self._owns_http = True

    # --- plumbing --------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _run(self, op: Operation[T]) -> T:
        cfg = self._config
        steps = exchange(op, cfg.policy, cfg.rng, cfg.on_retry)
        step = next(steps)
        while True:
            if isinstance(step, Send):
                request = cfg.build(self._http, step.operation)
                try:
                    outcome: Any = self._http.send(request)
                except httpx.TransportError as e:
                    outcome = e
            else:
                self._sleep(step.seconds)
                outcome = None
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Closes the connections (unless the ``httpx.Client`` was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "MemoryClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryClient({self._config.base_url!r})"

    # --- the verbs -------------------------------------------------------------------------

    def add(
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
        """Stores a message (``POST /v1/messages``) and returns it as stored."""
        return self._run(
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

    def add_batch(
        self,
        tenant_id: str,
        messages: Iterable[Mapping[str, Any]],
        idempotency_key: Optional[str] = None,
    ) -> BatchResult:
        """Stores up to 1,000 messages of one tenant (``POST /v1/messages/batch``). Each is a
        dict shaped like :meth:`add`'s arguments (``conversation_id``, ``role``,
        ``content``, optional ``metadata``, ``importance_override``, ``created_at``). A bad
        item does not raise: read each result's ``status`` and ``error``."""
        return self._run(self._ops.add_batch(tenant_id, messages, idempotency_key))

    def search(
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
        """Finds a tenant's most relevant messages (``POST /v1/memory/search``), best
        first. ``mode``: ``hybrid`` (default), ``vector`` or ``lexical``; ``filters``: metadata
        conditions (see docs/api.md, "Search filters"); ``min_relevance`` (0-1): leave out
        results less relevant than this (the server's default, 0.3, drops what is clearly
        unrelated; 0 keeps everything), so the answer can be empty."""
        return self._run(
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

    def get(self, message_id: Any) -> Message:
        """One message by id; :class:`~memory_layer.NotFound` if there is none."""
        return self._run(self._ops.get(message_id))

    def list_page(
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
        """One page of ``GET /v1/messages``; pass its ``next_cursor`` as ``cursor`` (with the
        same filters) for the next."""
        return self._run(
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

    def get_all(
        self,
        tenant_id: str,
        conversation_id: Optional[str] = None,
        role: Optional[str] = None,
        archived: Optional[bool] = None,
        created_after: Union[datetime, str, None] = None,
        created_before: Union[datetime, str, None] = None,
        order: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> Iterator[Message]:
        """Every message of a tenant (or a conversation), lazily, page after page, following
        ``next_cursor``. Keyset paging: nothing that existed at the start is skipped or
        repeated."""
        cursor: Optional[str] = None
        while True:
            page = self.list_page(
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
            yield from page.messages
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def update(
        self,
        message_id: Any,
        content: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        metadata_mode: Optional[str] = None,
        importance_override: Union[float, _Clear, None] = None,
        idempotency_key: Optional[str] = None,
    ) -> Message:
        """Changes a message (``PATCH /v1/messages/{id}``) and returns it as stored.
        ``metadata_mode``: ``replace`` (default) or ``merge`` (JSON Merge Patch).
        ``importance_override=CLEAR`` sends ``null`` (rescore without an override)."""
        return self._run(
            self._ops.update(
                message_id, content, metadata, metadata_mode, importance_override, idempotency_key
            )
        )

    def delete(self, message_id: Any) -> None:
        """Deletes one message and its history. :class:`~memory_layer.NotFound` if there is
        no such message (but not when a retry finds it gone after an attempt that may have
        deleted it)."""
        return self._run(self._ops.delete(message_id))

    def history(self, message_id: Any) -> List[HistoryEntry]:
        """Every update of a message, oldest first."""
        return self._run(self._ops.history(message_id))

    def delete_conversation(self, tenant_id: str, conversation_id: str) -> Erasure:
        """Erases one conversation of a tenant (admin keys only). Idempotent."""
        return self._run(self._ops.delete_conversation(tenant_id, conversation_id))

    def delete_all(self, tenant_id: str) -> Erasure:
        """Erases everything of a tenant (admin keys only). Idempotent."""
        return self._run(self._ops.delete_all(tenant_id))

    def run_retention(
        self,
        tenant_id: str,
        actions: Sequence[str] = ("archive", "delete"),
        dry_run: bool = False,
    ) -> RetentionResult:
        """Applies the tenant's retention policy now (``POST /v1/admin/retention/run``)."""
        return self._run(self._ops.run_retention(tenant_id, actions, dry_run))

    def tenants(self) -> Dict[str, Any]:
        """The tenants this key may see (``GET /v1/tenants``): ``{"admin": bool,
        "tenants": [...]}``, the JSON as the server sends it."""
        return self._run(self._ops.tenants())

    def conversations(
        self, tenant_id: str, page_size: Optional[int] = None, cursor: Optional[str] = None
    ) -> Dict[str, Any]:
        """One page of a tenant's conversations, most recently active first
        (``GET /v1/conversations``): ``{"conversations": [...], "next_cursor": ...}``."""
        return self._run(self._ops.conversations(tenant_id, page_size, cursor))

    def retention_preview(self, tenant_id: str, sample: Optional[int] = None) -> Dict[str, Any]:
        """The tenant's retention policy and what a run now would do, changing nothing
        (``GET /v1/admin/retention/preview``), as the server's JSON."""
        return self._run(self._ops.retention_preview(tenant_id, sample))

    def health(self) -> Health:
        """``GET /v1/admin/health``, one attempt; a degraded server (503) is returned, not
        raised: check ``.ok``."""
        return self._run(self._ops.health())
