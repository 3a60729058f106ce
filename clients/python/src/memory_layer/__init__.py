"""Python client for the AI Memory Layer REST API.

>>> from memory_layer import MemoryClient
>>> with MemoryClient("http://localhost:8000", api_key="...") as memory:
...     memory.add("acme", "conv-1", "user", "I love Python")
...     hits = memory.search("acme", "Which language do I like?")

:class:`MemoryClient` blocks; :class:`AsyncMemoryClient` is the same for asyncio. Errors
are :class:`MemoryLayerError` subclasses; writes carry an ``Idempotency-Key`` and failed
attempts are retried as the README describes.
"""

from ._version import __version__
from ._async import AsyncMemoryClient
from ._core import CLEAR, RETRIABLE_STATUSES, RetryEvent, RetryPolicy
from ._sync import MemoryClient
from .errors import (
    ApiError,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidResponse,
    MemoryLayerError,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServerTimeout,
    TransportError,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from .models import (
    BatchItemError,
    BatchItemResult,
    BatchResult,
    Erasure,
    Health,
    HistoryEntry,
    Message,
    MessagePage,
    RetentionResult,
    SearchHit,
    SearchResults,
    Snapshot,
)

__all__ = [
    "__version__",
    "MemoryClient",
    "AsyncMemoryClient",
    "CLEAR",
    "RETRIABLE_STATUSES",
    "RetryEvent",
    "RetryPolicy",
    # errors
    "MemoryLayerError",
    "ApiError",
    "FieldError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "IdempotencyKeyReused",
    "PayloadTooLarge",
    "ValidationError",
    "RateLimited",
    "ServerError",
    "Unavailable",
    "Overloaded",
    "ServerTimeout",
    "TransportError",
    "InvalidResponse",
    # answers
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
