"""What the sync and the async client share: everything but the I/O.

- :class:`Operations` plans each verb's request (method, path, query, JSON body bytes,
  headers, including the ``Idempotency-Key`` a write carries on every attempt) together with
  the function that reads its answer;
- :class:`RetryPolicy` decides whether to retry an attempt's outcome and how long to wait;
- :func:`exchange` is the retry loop, written once as a generator: it yields a
  :class:`Send` (send this request, give me the response or the transport exception) or a
  :class:`Sleep` (wait this long), and returns the parsed result or raises. The two clients
  are thin drivers of it, one with ``httpx.Client`` and ``time.sleep``, the other with
  ``httpx.AsyncClient`` and ``asyncio.sleep``.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import (
    Any,
    Callable,
    Dict,
    Generator,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)
from urllib.parse import quote

import httpx

from ._version import __version__
from .errors import (
    ApiError,
    FieldError,
    InvalidResponse,
    TransportError,
    error_class,
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
    _details,
    format_datetime,
)

T = TypeVar("T")

logger = logging.getLogger("memory_layer")

#: Statuses worth retrying: rate limited, overloaded or unavailable, bad gateway, timeout.
RETRIABLE_STATUSES = frozenset({429, 502, 503, 504})


class _Clear:
    """The type of :data:`CLEAR`."""

    _instance: Optional["_Clear"] = None

    def __new__(cls) -> "_Clear":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "CLEAR"


#: Pass as ``update(..., importance_override=CLEAR)`` to send ``null``: the message is
#: rescored without a client override. (``None``, the default, leaves it unchanged.)
CLEAR = _Clear()


# --- the retry decision ------------------------------------------------------------------


def parse_retry_after(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """``Retry-After`` in seconds: delta-seconds (``5``, also ``1.5``) or an HTTP date.
    ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, infinities
        return None
    return max(0.0, seconds)


def is_retriable_exception(exc: BaseException) -> bool:
    """Transport failures after which the request may be sent again: connect errors,
    timeouts (connect, read, write, pool), a connection reset or closed without an answer.
    Not: an unsupported URL scheme, a proxy error, a request httpx could not even write."""
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return False
    return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry, and how long to wait first.

    - retried: 429, 502, 503, 504 and transport errors (:func:`is_retriable_exception`);
      nothing else;
    - with ``Retry-After``: wait that many seconds plus a jitter of up to 10% of it (at
      least up to 50 ms); when it is longer than ``max_retry_wait``, do not wait: give up
      at once (the error carries ``retry_after``);
    - without: ``base_delay * 2**attempt`` capped at ``max_retry_wait``, with full jitter
      (uniform between 0 and that);
    - at most ``max_retries`` retries.
    """

    max_retries: int = 3
    max_retry_wait: float = 30.0
    base_delay: float = 0.25

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.max_retry_wait < 0:
            raise ValueError("max_retry_wait must be >= 0")

    def wait(
        self,
        retries_done: int,
        retriable: bool,
        retry_after: Optional[float],
        rng: Union[random.Random, Any] = random,
    ) -> Optional[float]:
        """Seconds to wait before the next attempt, or ``None``: do not retry.

        ``retries_done`` is how many retries this call has made already (0 after the first
        attempt)."""
        if not retriable or retries_done >= self.max_retries:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_wait:
                return None
            return retry_after + rng.uniform(0.0, max(0.1 * retry_after, 0.05))
        ceiling = min(self.max_retry_wait, self.base_delay * (2**retries_done))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class RetryEvent:
    """Passed to ``on_retry`` before each wait: which request, which retry (1 for the first),
    how long the client waits, and why (the status and code, or the transport error)."""

    method: str
    path: str
    retry: int
    wait: float
    status: Optional[int]
    code: Optional[str]
    error: BaseException


# --- planned requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One verb's request, ready to be sent as many times as needed (the body is encoded
    once, so every attempt sends the same bytes, as idempotent replays require), and how to
    read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Tuple[Tuple[str, str], ...] = ()
    body: Optional[bytes] = None
    headers: Tuple[Tuple[str, str], ...] = ()
    #: DELETE of one message: a 404 after an attempt that may have deleted it (a transport
    #: error or a 5xx) means it did.
    gone_means_done: bool = False
    #: Statuses read by ``parse`` although they are not 2xx (health's 503 "degraded").
    also_ok: Tuple[int, ...] = ()
    retry: bool = True

    @property
    def idempotency_key(self) -> Optional[str]:
        return next((v for k, v in self.headers if k.lower() == "idempotency-key"), None)


@dataclass(frozen=True)
class Send:
    """Step of :func:`exchange`: send ``operation`` and answer with the ``httpx.Response``
    or the ``httpx.TransportError`` raised."""

    operation: "Operation[Any]"
    attempt: int


@dataclass(frozen=True)
class Sleep:
    """Step of :func:`exchange`: wait ``seconds``, then answer with ``None``."""

    seconds: float


Step = Union[Send, Sleep]


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer, whatever its body (a non-JSON body still gives an
    :class:`ApiError` of the right class for its status, with ``code`` ``None``)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    request_id = response.headers.get("x-request-id")
    code: Optional[str] = None
    details: Tuple[FieldError, ...] = ()
    try:
        body: Any = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("code"), str):
        code = body["code"]
        message = str(body.get("message", ""))
        details = _details(body.get("details"))
    else:
        text = response.content.decode("utf-8", "replace").strip()
        message = text[:300] or response.reason_phrase or f"HTTP {status}"
    return error_class(status, code)(status, code, message, details, request_id, retry_after)


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as e:
        raise InvalidResponse(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON: {e}"
        ) from None


def exchange(
    op: Operation[T],
    policy: RetryPolicy,
    rng: Union[random.Random, Any] = random,
    on_retry: Optional[Callable[[RetryEvent], None]] = None,
) -> Generator[Step, Any, T]:
    """The retry loop of one call, without I/O: see the module's doc."""
    retries = 0
    maybe_done = False  # an earlier attempt may have been carried out
    while True:
        outcome = yield Send(op, retries + 1)
        status: Optional[int] = None
        code: Optional[str] = None
        if isinstance(outcome, BaseException):
            retriable = is_retriable_exception(outcome)
            error: BaseException = TransportError(
                f"{op.method} {op.path}: {type(outcome).__name__}: {outcome}",
                attempts=retries + 1,
            )
            error.__cause__ = outcome
            retry_after = None
        else:
            response: httpx.Response = outcome
            status = response.status_code
            if response.is_success or status in op.also_ok:
                return op.parse(response)
            if op.gone_means_done and status == 404 and maybe_done:
                return op.parse(response)
            error = error_from_response(response)
            code = error.code
            retry_after = error.retry_after
            retriable = status in RETRIABLE_STATUSES
        wait = policy.wait(retries, retriable and op.retry, retry_after, rng)
        if wait is None:
            raise error
        maybe_done = maybe_done or status is None or status >= 500
        retries += 1
        event = RetryEvent(op.method, op.path, retries, wait, status, code, error)
        logger.info(
            "memory_layer: retry %d of %s %s in %.2f s after %s",
            retries,
            op.method,
            op.path,
            wait,
            f"{status} {code}" if status is not None else type(error.__cause__).__name__,
        )
        if on_retry is not None:
            on_retry(event)
        yield Sleep(wait)


# --- the verbs -----------------------------------------------------------------------------


def _is_ascii(text: str) -> bool:
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        return False
    return True


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _seg(value: Any) -> str:
    """A path segment, percent-encoded (``/`` included)."""
    return quote(str(value), safe="")


def _put(d: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        d[key] = value


def _query(**kwargs: Any) -> Tuple[Tuple[str, str], ...]:
    out: List[Tuple[str, str]] = []
    for k, v in kwargs.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, datetime):
            v = format_datetime(v)
        out.append((k, str(v)))
    return tuple(out)


def _parse_with(fn: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    def parse(response: httpx.Response) -> T:
        return fn(_json(response))

    return parse


def _object(response: httpx.Response) -> Dict[str, Any]:
    data = _json(response)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _no_content(response: httpx.Response) -> None:
    return None


def _history(data: Any) -> List[HistoryEntry]:
    if not isinstance(data, Mapping) or not isinstance(data.get("entries"), list):
        raise InvalidResponse("a history answer lacks its 'entries'")
    return [HistoryEntry.from_json(e) for e in data["entries"]]


def _health(response: httpx.Response) -> Health:
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, Mapping) and "status" in data:
        return Health.from_json(data)
    if response.is_success:
        raise InvalidResponse("the health answer is not the documented JSON")
    raise error_from_response(response)


def _batch_item(item: Mapping[str, Any]) -> Dict[str, Any]:
    out = {k: v for k, v in item.items() if v is not None}
    if "created_at" in out:
        out["created_at"] = format_datetime(out["created_at"])
    return out


class Operations:
    """Plans each verb's request. Knows nothing of sockets or clocks; stateless apart from
    the id factory (``new_key``, a UUID4 per call by default)."""

    JSON = "application/json"

    def __init__(self, new_key: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self._new_key = new_key

    def _write_headers(self, idempotency_key: Optional[str]) -> Tuple[Tuple[str, str], ...]:
        key = idempotency_key if idempotency_key is not None else self._new_key()
        if not _is_ascii(key):
            # It could not even be sent (HTTP header values are ASCII); the server checks
            # the rest of its rule (1-255 visible characters).
            raise ValueError(f"idempotency_key must be visible ASCII characters, got {key!r}")
        return (("content-type", self.JSON), ("idempotency-key", key))

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
    ) -> Operation[Message]:
        body: Dict[str, Any] = {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "role": role,
            "content": content,
        }
        _put(body, "metadata", None if metadata is None else dict(metadata))
        _put(body, "importance_override", importance_override)
        _put(body, "created_at", None if created_at is None else format_datetime(created_at))
        return Operation(
            "POST",
            "/v1/messages",
            _parse_with(Message.from_json),
            body=_encode(body),
            headers=self._write_headers(idempotency_key),
        )

    def add_batch(
        self,
        tenant_id: str,
        messages: Iterable[Mapping[str, Any]],
        idempotency_key: Optional[str] = None,
    ) -> Operation[BatchResult]:
        body = {"tenant_id": tenant_id, "messages": [_batch_item(m) for m in messages]}
        return Operation(
            "POST",
            "/v1/messages/batch",
            _parse_with(BatchResult.from_json),
            body=_encode(body),
            headers=self._write_headers(idempotency_key),
        )

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
    ) -> Operation[SearchResults]:
        body: Dict[str, Any] = {"tenant_id": tenant_id, "query": query}
        _put(body, "top_k", top_k)
        _put(body, "conversation_id", conversation_id)
        _put(body, "mode", mode)
        _put(body, "filters", None if filters is None else dict(filters))
        _put(
            body, "created_after", None if created_after is None else format_datetime(created_after)
        )
        _put(
            body,
            "created_before",
            None if created_before is None else format_datetime(created_before),
        )
        _put(body, "importance_min", importance_min)
        _put(body, "candidate_limit", candidate_limit)
        _put(body, "min_relevance", min_relevance)
        return Operation(
            "POST",
            "/v1/memory/search",
            _parse_with(SearchResults.from_json),
            body=_encode(body),
            headers=(("content-type", self.JSON),),
        )

    def get(self, message_id: Any) -> Operation[Message]:
        return Operation("GET", f"/v1/messages/{_seg(message_id)}", _parse_with(Message.from_json))

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
    ) -> Operation[MessagePage]:
        return Operation(
            "GET",
            "/v1/messages",
            _parse_with(MessagePage.from_json),
            params=_query(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                role=role,
                archived=archived,
                created_after=created_after,
                created_before=created_before,
                order=order,
                limit=page_size,
                cursor=cursor,
            ),
        )

    def update(
        self,
        message_id: Any,
        content: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        metadata_mode: Optional[str] = None,
        importance_override: Union[float, _Clear, None] = None,
        idempotency_key: Optional[str] = None,
    ) -> Operation[Message]:
        body: Dict[str, Any] = {}
        _put(body, "content", content)
        _put(body, "metadata", None if metadata is None else dict(metadata))
        _put(body, "metadata_mode", metadata_mode)
        if isinstance(importance_override, _Clear):
            body["importance_override"] = None
        else:
            _put(body, "importance_override", importance_override)
        return Operation(
            "PATCH",
            f"/v1/messages/{_seg(message_id)}",
            _parse_with(Message.from_json),
            body=_encode(body),
            headers=self._write_headers(idempotency_key),
        )

    def delete(self, message_id: Any) -> Operation[None]:
        return Operation(
            "DELETE", f"/v1/messages/{_seg(message_id)}", _no_content, gone_means_done=True
        )

    def history(self, message_id: Any) -> Operation[List[HistoryEntry]]:
        return Operation("GET", f"/v1/messages/{_seg(message_id)}/history", _parse_with(_history))

    def delete_conversation(self, tenant_id: str, conversation_id: str) -> Operation[Erasure]:
        return Operation(
            "DELETE",
            f"/v1/conversations/{_seg(conversation_id)}",
            _parse_with(Erasure.from_json),
            params=_query(tenant_id=tenant_id),
        )

    def delete_all(self, tenant_id: str) -> Operation[Erasure]:
        return Operation(
            "DELETE", f"/v1/tenants/{_seg(tenant_id)}/messages", _parse_with(Erasure.from_json)
        )

    def run_retention(
        self,
        tenant_id: str,
        actions: Sequence[str] = ("archive", "delete"),
        dry_run: bool = False,
    ) -> Operation[RetentionResult]:
        body = {"tenant_id": tenant_id, "actions": list(actions), "dry_run": bool(dry_run)}
        return Operation(
            "POST",
            "/v1/admin/retention/run",
            _parse_with(RetentionResult.from_json),
            body=_encode(body),
            headers=(("content-type", self.JSON),),
        )

    def tenants(self) -> Operation[Dict[str, Any]]:
        return Operation("GET", "/v1/tenants", _object)

    def conversations(
        self, tenant_id: str, page_size: Optional[int] = None, cursor: Optional[str] = None
    ) -> Operation[Dict[str, Any]]:
        params = _query(tenant_id=tenant_id, limit=page_size, cursor=cursor)
        return Operation("GET", "/v1/conversations", _object, params=params)

    def retention_preview(
        self, tenant_id: str, sample: Optional[int] = None
    ) -> Operation[Dict[str, Any]]:
        params = _query(tenant_id=tenant_id, limit=sample)
        return Operation("GET", "/v1/admin/retention/preview", _object, params=params)

    def health(self) -> Operation[Health]:
        # A probe: one attempt, and a 503 "degraded" is an answer, not an error.
        return Operation("GET", "/v1/admin/health", _health, also_ok=(503,), retry=False)


# --- what both clients hold ----------------------------------------------------------------


@dataclass
class ClientConfig:
    """The settings both clients share (built from their constructor's arguments)."""

    base_url: str
    api_key: Optional[str] = None
    timeout: Optional[float] = 30.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: Optional[Callable[[RetryEvent], None]] = None
    headers: Dict[str, str] = field(default_factory=dict)
    rng: Any = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if self.api_key is not None and not _is_ascii(self.api_key):
            raise ValueError("api_key must be ASCII (it is sent as the x-api-key header)")

    def build(
        self, http: Union[httpx.Client, httpx.AsyncClient], op: "Operation[Any]"
    ) -> httpx.Request:
        headers = {"accept": "application/json", "user-agent": f"memory-layer-client/{__version__}"}
        headers.update(self.headers)
        if self.api_key is not None:
            headers["x-api-key"] = self.api_key
        headers.update(op.headers)
        return http.build_request(
            op.method,
            self.base_url + op.path,
            params=list(op.params) if op.params else None,
            content=op.body,
            headers=headers,
        )


def make_config(
    base_url: str,
    api_key: Optional[str],
    timeout: Optional[float],
    max_retries: int,
    max_retry_wait: float,
    on_retry: Optional[Callable[[RetryEvent], None]],
    headers: Optional[Mapping[str, str]],
) -> ClientConfig:
    return ClientConfig(
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        policy=RetryPolicy(max_retries=max_retries, max_retry_wait=max_retry_wait),
        on_retry=on_retry,
        headers=dict(headers or {}),
    )
