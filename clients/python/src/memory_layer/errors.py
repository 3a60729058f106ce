"""The exceptions the client raises.

Every error the server answers is an :class:`ApiError` (or one of its subclasses, chosen
by status and ``code``) carrying the body's ``code``, ``message`` and ``details``, the
response's ``x-request-id`` and its ``Retry-After`` in seconds. A connection failure or a
timeout, once the retries are spent, is a :class:`TransportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Type

__all__ = [
    "MemoryLayerError",
    "FieldError",
    "ApiError",
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
]


class MemoryLayerError(Exception):
    """Base of every exception this package raises."""


@dataclass(frozen=True)
class FieldError:
    """One broken rule of one field (an entry of an error body's ``details``)."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class ApiError(MemoryLayerError):
    """The server answered with an error status.

    Attributes:
        status: the HTTP status.
        code: the body's stable ``code`` (``validation_error``, ``not_found``, ...); ``None``
            when the body was not the server's JSON error (a proxy's HTML page, say).
        message: the body's ``message`` (or the start of a non-JSON body).
        details: one :class:`FieldError` per invalid field (empty for other errors).
        request_id: the response's ``x-request-id``: quote it to find the request in the
            server's logs.
        retry_after: the response's ``Retry-After``, in seconds, when it had one.
    """

    def __init__(
        self,
        status: int,
        code: Optional[str],
        message: str,
        details: Tuple[FieldError, ...] = (),
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status} {self.code or 'error'}: {self.message}"
        if self.details:
            text += " (" + "; ".join(str(d) for d in self.details) + ")"
        if self.retry_after is not None:
            text += f" [retry after {self.retry_after:g} s]"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text

    def field(self, name: str) -> Optional[FieldError]:
        """The first detail about the field ``name``, if any."""
        return next((d for d in self.details if d.field == name), None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, details={self.details!r}, "
            f"request_id={self.request_id!r}, retry_after={self.retry_after!r})"
        )


class BadRequest(ApiError):
    """400: the body is not well-formed JSON (``invalid_json``) or could not be read."""


class Unauthorized(ApiError):
    """401: keys are configured and ``x-api-key`` is missing or wrong."""


class Forbidden(ApiError):
    """403: the key is bound to other tenants, or the endpoint needs an admin key."""


class NotFound(ApiError):
    """404: unknown message id (or one the key may not see), or unknown route."""


class Conflict(ApiError):
    """409: a message kept changing while it was updated (``conflict``; retry the call)."""


class IdempotencyKeyReused(Conflict):
    """409 ``idempotency_key_reused``: the key was used before with another request."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class ValidationError(ApiError):
    """422: fields broke the API's rules; ``details`` names each one."""


class RateLimited(ApiError):
    """429: over the rate limit; ``retry_after`` says when to try again."""


class ServerError(ApiError):
    """A 5xx without a more specific class (500 ``internal``, 501, 502, ...)."""


class Unavailable(ServerError):
    """503: the database or the embedder cannot be reached (``unavailable``), or the
    server is overloaded (``overloaded``, see :class:`Overloaded`)."""


class Overloaded(Unavailable):
    """503 ``overloaded``: too many requests in flight, or the embedder's queue is full."""


class ServerTimeout(ServerError):
    """504: the request took longer than the server's timeout. A write may have been
    stored; the client's retry with the same ``Idempotency-Key`` is safe."""


class TransportError(MemoryLayerError):
    """No answer: connection refused or reset, or a timeout, after the retries.

    The httpx exception is the ``__cause__``. ``attempts`` is how many requests were sent.
    """

    def __init__(self, message: str, attempts: int = 1) -> None:
        self.attempts = attempts
        super().__init__(message)


class InvalidResponse(MemoryLayerError):
    """A success status with a body that is not what the API documents."""


_BY_STATUS: Dict[int, Type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
    429: RateLimited,
    503: Unavailable,
    504: ServerTimeout,
}

_BY_CODE: Dict[str, Type[ApiError]] = {
    "idempotency_key_reused": IdempotencyKeyReused,
    "overloaded": Overloaded,
}


def error_class(status: int, code: Optional[str]) -> Type[ApiError]:
    """The exception class for an error answer."""
    cls = _BY_STATUS.get(status)
    by_code = _BY_CODE.get(code or "")
    # A code refines its status's class only (an `overloaded` 429 stays RateLimited).
    if by_code is not None and cls is not None and issubclass(by_code, cls):
        return by_code
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return ApiError
