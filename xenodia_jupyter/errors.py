"""The exceptions this package raises, all under `XenodiaError`.

Error statuses map to classes in one table, `_STATUS_CLASSES`, read by
`error_class_for_status`; `protocol.error_from_response` is the single seam
where an HTTP answer becomes a typed error.  No message,
repr or attribute here ever holds the API key: messages come from the server
or from our own rules, and `redact` scrubs a known key out of anything that
passes through.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "XenodiaError",
    "InvalidRequestError",
    "BudgetExceededError",
    "APIError",
    "AuthenticationError",
    "PaymentRequiredError",
    "NotFoundError",
    "RateLimitError",
    "UpstreamError",
    "APIConnectionError",
    "APIResponseError",
    "GenerationFailedError",
    "TaskTimeoutError",
]


class XenodiaError(Exception):
    """Base class of every error raised by xenodia_jupyter."""


# Raised before anything is sent ----------------------------------------------


class InvalidRequestError(XenodiaError, ValueError):
    """The request breaks a rule; raised before anything is sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BudgetExceededError(InvalidRequestError):
    """The call would take the session's spend past `budget_usd`."""

    def __init__(self, spent_usd: float, price_usd: float, budget_usd: float) -> None:
        super().__init__(
            "budget_usd",
            f"this call costs ${price_usd:.2f}; ${spent_usd:.2f} is already spent "
            f"this session and the budget is ${budget_usd:.2f}, so nothing was sent",
        )
        self.spent_usd = spent_usd
        self.price_usd = price_usd
        self.budget_usd = budget_usd


# The server answered with an error status -------------------------------------


class APIError(XenodiaError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        task_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id
        self.task_id = task_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status_code}"
        if self.code:
            text += f" {self.code}"
        text += f": {self.message}"
        known = [f"{k} {v}" for k, v in (("task", self.task_id), ("request", self.request_id)) if v]
        if known:
            text += f" ({', '.join(known)})"
        return text

    def __reduce__(self) -> Any:
        return (_rebuild_api_error, (type(self), self.message, self.__dict__.copy()))


def _rebuild_api_error(cls: type[APIError], message: str, state: dict[str, Any]) -> APIError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.args = (error._describe(),)
    return error


class AuthenticationError(APIError):
    """401: the API key is missing or was refused."""


class PaymentRequiredError(APIError):
    """402: the account is out of balance (the billing boundary)."""


class NotFoundError(APIError):
    """404: the task (or a result file) is unknown or has expired."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class UpstreamError(APIError):
    """502 and other 5xx: generation failed upstream or the gateway broke."""


_STATUS_CLASSES: dict[int, type[APIError]] = {
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for_status(status_code: int) -> type[APIError]:
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    if status_code >= 500:
        return UpstreamError
    return APIError


# Transport and task outcomes -----------------------------------------------------


class APIConnectionError(XenodiaError):
    """The server could not be reached, dropped the connection, or answered garbage."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.task_id = task_id


class APIResponseError(APIConnectionError):
    """The server answered, but not as the API documents: a body that is not
    JSON, a task envelope without a task id or state, impossible numbers.
    (An `APIConnectionError` too, for code written before it existed.)"""


class GenerationFailedError(XenodiaError):
    """The task ended in state `fail`; `error` is what the server said."""

    def __init__(self, task_id: str, error: dict[str, Any], *, request_id: str | None = None) -> None:
        self.task_id = task_id
        self.error = error
        self.request_id = request_id
        detail = error.get("message") or error.get("code") or "no reason given"
        super().__init__(f"task {task_id} failed: {detail}")

    def __reduce__(self) -> Any:
        return (type(self), (self.task_id, self.error), {"request_id": self.request_id})


class TaskTimeoutError(XenodiaError, TimeoutError):
    """The caller's deadline passed before the task finished; it may still finish.

    Pick it up later with `client.retrieve(task_id)` or `xj.recover()`.
    """

    def __init__(self, task_id: str | None, last_state: str | None, waited_s: float) -> None:
        self.task_id = task_id
        self.last_state = last_state
        self.waited_s = waited_s
        super().__init__(
            f"task {task_id} was still {last_state!r} after {waited_s:.0f} s; "
            f"it is journaled: finish it later with client.retrieve({task_id!r}) or xj.recover()"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.task_id, self.last_state, self.waited_s))


def redact(text: str, secret: str | None) -> str:
    """Replace `secret` in `text` (used on anything built from server text)."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text
