"""The API's answers as frozen dataclasses, parsed from JSON.

Field names are the API's own (see ``/openapi.json``). Fields the client does not know yet
are ignored (a newer server stays compatible); every object keeps its JSON in ``raw``.
Timestamps are timezone-aware :class:`datetime.datetime` in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from .errors import FieldError, InvalidResponse

__all__ = [
    "Message",
    "MessagePage",
    "SearchHit",
    "SearchResults",
    "BatchItemError",
    "BatchItemResult",
    "BatchResult",
    "Snapshot",
    "HistoryEntry",
    "Erasure",
    "RetentionResult",
    "Health",
]

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)


def parse_datetime(value: Any) -> datetime:
    """An RFC 3339 timestamp (``2025-11-14T20:30:00.123456Z``, any offset, any number of
    fraction digits) as an aware datetime in UTC. Python 3.9's ``fromisoformat`` reads
    neither ``Z`` nor nanoseconds, hence this parser."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InvalidResponse(f"expected an RFC 3339 timestamp, got {value!r}")
    m = _RFC3339.match(value.strip())
    if not m:
        raise InvalidResponse(f"expected an RFC 3339 timestamp, got {value!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz = timezone.utc
    else:
        sign = -1 if m.group(9) == "-" else 1
        tz = timezone(sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(
        timezone.utc
    )


def format_datetime(value: Any) -> str:
    """What the API takes for a timestamp: a string is sent as is; a datetime in RFC 3339
    (a naive one is taken as local time, as Python does)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a datetime or an RFC 3339 string, got {type(value).__name__}")


def _obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidResponse(f"expected a JSON object for {what}, got {type(data).__name__}")
    return data


def _req(data: Mapping[str, Any], key: str, what: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise InvalidResponse(f"{what} lacks the field {key!r}") from None


def _opt_dt(value: Any) -> Optional[datetime]:
    return None if value is None else parse_datetime(value)


@dataclass(frozen=True)
class Message:
    """A stored message (``POST /v1/messages``, ``GET /v1/messages/{id}``, listings)."""

    id: str
    tenant_id: str
    conversation_id: str
    role: str
    content: str
    metadata: Dict[str, Any]
    importance_score: float
    embedding_status: str
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    importance_override: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> "Message":
        d = _obj(data, "a message")
        w = "a message"
        return cls(
            id=str(_req(d, "id", w)),
            tenant_id=_req(d, "tenant_id", w),
            conversation_id=_req(d, "conversation_id", w),
            role=_req(d, "role", w),
            content=_req(d, "content", w),
            metadata=dict(d.get("metadata") or {}),
            importance_score=float(d.get("importance_score", 0.0)),
            embedding_status=d.get("embedding_status", "pending"),
            created_at=parse_datetime(_req(d, "created_at", w)),
            updated_at=parse_datetime(d.get("updated_at", d["created_at"])),
            archived=bool(d.get("archived", False)),
            importance_override=(
                None if d.get("importance_override") is None else float(d["importance_override"])
            ),
            raw=dict(d),
        )


@dataclass(frozen=True)
class MessagePage:
    """One page of ``GET /v1/messages``: pass ``next_cursor`` back for the next one (it is
    ``None`` on the last page)."""

    messages: Tuple[Message, ...]
    next_cursor: Optional[str]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    @classmethod
    def from_json(cls, data: Any) -> "MessagePage":
        d = _obj(data, "a page")
        return cls(
            messages=tuple(Message.from_json(m) for m in _req(d, "messages", "a page")),
            next_cursor=d.get("next_cursor"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class SearchHit:
    """One search result. ``score`` orders the results of one answer; ``relevance`` (0-1)
    is absolute, comparable across searches, and what ``min_relevance`` is compared with
    (docs/scoring.md). ``lexical`` is ``None`` in vector mode; ``similarity`` is 0 in
    lexical mode."""

    message_id: str
    score: float
    similarity: float
    decay: float
    content: str
    role: str
    metadata: Dict[str, Any]
    created_at: datetime
    importance: float
    conversation_id: Optional[str] = None
    lexical: Optional[float] = None
    relevance: Optional[float] = None
    fusion: Optional[float] = None
    #: hybrid and lexical modes: what ``fusion`` is made of (``matched``, ``neighbours``,
    #: ``session``, ``date``, ``speaker``); None in vector mode or from an older server.
    signals: Optional[Dict[str, float]] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> "SearchHit":
        d = _obj(data, "a search result")
        w = "a search result"
        return cls(
            message_id=str(_req(d, "message_id", w)),
            score=float(_req(d, "score", w)),
            similarity=float(d.get("similarity", 0.0)),
            decay=float(d.get("decay", 0.0)),
            content=_req(d, "content", w),
            role=d.get("role", ""),
            metadata=dict(d.get("metadata") or {}),
            created_at=parse_datetime(_req(d, "created_at", w)),
            importance=float(d.get("importance", 0.0)),
            conversation_id=d.get("conversation_id"),
            lexical=None if d.get("lexical") is None else float(d["lexical"]),
            relevance=None if d.get("relevance") is None else float(d["relevance"]),
            fusion=None if d.get("fusion") is None else float(d["fusion"]),
            signals=None
            if not isinstance(d.get("signals"), dict)
            else {k: float(v) for k, v in d["signals"].items() if isinstance(v, (int, float))},
            raw=dict(d),
        )


@dataclass(frozen=True)
class SearchResults:
    """A search's answer: ``items`` best first; ``mode`` is the mode that ran (``lexical``
    when a hybrid search could not embed its query); ``pending_embeddings`` counts the
    scope's messages not embedded yet; ``below_min_relevance`` counts the best results left
    out for falling below ``min_relevance`` (empty ``items`` with a positive count: nothing
    relevant is stored). Iterating yields the items."""

    items: Tuple[SearchHit, ...]
    total: int
    mode: Optional[str] = None
    pending_embeddings: int = 0
    min_relevance: Optional[float] = None
    below_min_relevance: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> SearchHit:
        return self.items[i]

    @classmethod
    def from_json(cls, data: Any) -> "SearchResults":
        d = _obj(data, "search results")
        items = tuple(SearchHit.from_json(i) for i in _req(d, "items", "search results"))
        return cls(
            items=items,
            total=int(d.get("total", len(items))),
            mode=d.get("mode"),
            pending_embeddings=int(d.get("pending_embeddings") or 0),
            min_relevance=None if d.get("min_relevance") is None else float(d["min_relevance"]),
            below_min_relevance=int(d.get("below_min_relevance") or 0),
            raw=dict(d),
        )


def _details(data: Any) -> Tuple[FieldError, ...]:
    out: List[FieldError] = []
    for item in data or ():
        if isinstance(item, Mapping):
            out.append(FieldError(str(item.get("field", "")), str(item.get("rule", ""))))
    return tuple(out)


@dataclass(frozen=True)
class BatchItemError:
    """Why one item of a batch was refused (the API's error body)."""

    code: str
    message: str
    details: Tuple[FieldError, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> "BatchItemError":
        d = _obj(data, "an item's error")
        return cls(
            code=str(d.get("code", "")),
            message=str(d.get("message", "")),
            details=_details(d.get("details")),
        )


@dataclass(frozen=True)
class BatchItemResult:
    """The outcome of one item: ``status`` 201 with ``id`` and ``embedding_status``, or
    422 with ``error``."""

    index: int
    status: int
    id: Optional[str] = None
    embedding_status: Optional[str] = None
    error: Optional[BatchItemError] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @classmethod
    def from_json(cls, data: Any) -> "BatchItemResult":
        d = _obj(data, "a batch item's result")
        return cls(
            index=int(_req(d, "index", "a batch item's result")),
            status=int(_req(d, "status", "a batch item's result")),
            id=None if d.get("id") is None else str(d["id"]),
            embedding_status=d.get("embedding_status"),
            error=None if d.get("error") is None else BatchItemError.from_json(d["error"]),
            raw=dict(d),
        )


@dataclass(frozen=True)
class BatchResult:
    """``POST /v1/messages/batch``: per-item ``results`` in request order. ``replayed`` is
    true when this answers a retry with the same ``Idempotency-Key``."""

    tenant_id: str
    created: int
    failed: int
    replayed: bool
    results: Tuple[BatchItemResult, ...]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ids(self) -> List[Optional[str]]:
        """The stored ids in request order (``None`` for a refused item)."""
        return [r.id for r in self.results]

    @property
    def failures(self) -> List[BatchItemResult]:
        return [r for r in self.results if not r.ok]

    @classmethod
    def from_json(cls, data: Any) -> "BatchResult":
        d = _obj(data, "a batch result")
        results = tuple(BatchItemResult.from_json(r) for r in _req(d, "results", "a batch"))
        return cls(
            tenant_id=d.get("tenant_id", ""),
            created=int(d.get("created", sum(1 for r in results if r.ok))),
            failed=int(d.get("failed", sum(1 for r in results if not r.ok))),
            replayed=bool(d.get("replayed", False)),
            results=results,
            raw=dict(d),
        )


@dataclass(frozen=True)
class Snapshot:
    """A message's values before or after one change."""

    content: str
    metadata: Dict[str, Any]
    importance_score: float

    @classmethod
    def from_json(cls, data: Any) -> "Snapshot":
        d = _obj(data, "a snapshot")
        return cls(
            content=d.get("content", ""),
            metadata=dict(d.get("metadata") or {}),
            importance_score=float(d.get("importance_score", 0.0)),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One update of a message: who (``actor``), when (``at``), which fields changed
    (``changed``: ``content``, ``metadata``, ``importance_score``), before and after."""

    id: str
    at: datetime
    actor: str
    changed: Tuple[str, ...]
    old: Snapshot
    new: Snapshot
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> "HistoryEntry":
        d = _obj(data, "a history entry")
        w = "a history entry"
        return cls(
            id=str(_req(d, "id", w)),
            at=parse_datetime(_req(d, "at", w)),
            actor=d.get("actor", ""),
            changed=tuple(d.get("changed") or ()),
            old=Snapshot.from_json(_req(d, "old", w)),
            new=Snapshot.from_json(_req(d, "new", w)),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Erasure:
    """What an erasure deleted (``deleted`` is 0 when there was nothing left)."""

    tenant_id: str
    deleted: int
    conversation_id: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> "Erasure":
        d = _obj(data, "an erasure")
        return cls(
            tenant_id=d.get("tenant_id", ""),
            deleted=int(_req(d, "deleted", "an erasure")),
            conversation_id=d.get("conversation_id"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class RetentionResult:
    """What a retention run did (or, in a dry run, would do)."""

    archived: int
    deleted: int
    dry_run: bool
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> "RetentionResult":
        d = _obj(data, "a retention result")
        return cls(
            archived=int(d.get("archived", 0)),
            deleted=int(d.get("deleted", 0)),
            dry_run=bool(d.get("dry_run", False)),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Health:
    """``GET /v1/admin/health``: ``status`` is ``ok``, or ``degraded`` when the database is
    down (the server answers that with 503; :meth:`ok` tells)."""

    status: str
    database: str
    timestamp: Optional[datetime] = None
    latency_ms: Optional[float] = None
    uptime_seconds: Optional[int] = None
    environment: Optional[str] = None
    version: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_json(cls, data: Any) -> "Health":
        d = _obj(data, "a health answer")
        return cls(
            status=str(_req(d, "status", "a health answer")),
            database=str(d.get("database", "")),
            timestamp=_opt_dt(d.get("timestamp")),
            latency_ms=None if d.get("latency_ms") is None else float(d["latency_ms"]),
            uptime_seconds=None if d.get("uptime_seconds") is None else int(d["uptime_seconds"]),
            environment=d.get("environment"),
            version=d.get("version"),
            raw=dict(d),
        )
