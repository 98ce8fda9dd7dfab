"""The exceptions this package raises, all under `XenodiaError`.

Error statuses map to classes in one table, `_STATUS_CLASSES`, read by
`error_class_for_status`; `protocol.error_from_response` is the single seam
where an HTTP answer becomes a typed error.  No message,
repr or attribute here ever holds the API key: messages come from the server
or from our own rules, and `redact` scrubs a known key out of anything that
passes through.

Each class also says what happened and what to do next in plain words:
`headline` (one sentence) and `advice`, built from the error's own fields.
`jupyter.markup.error_html` / `error_text` show them in the magic and the panel.
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
    "ConflictError",
    "RateLimitError",
    "UpstreamError",
    "APIConnectionError",
    "APIResponseError",
    "GenerationFailedError",
    "TaskTimeoutError",
    "StorageError",
]


class XenodiaError(Exception):
    """Base class of every error raised by xenodia_jupyter."""

    @property
    def headline(self) -> str:
        """What happened, in one sentence a person understands."""
        return "Something went wrong in xenodia_jupyter."

    @property
    def advice(self) -> str:
        """What to do next."""
        return "The details are below."

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields, not by calling __init__ again with `args` (the
        # subclasses take other arguments): errors travel back from cluster workers.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[XenodiaError], args: tuple[Any, ...], fields: dict[str, Any]) -> XenodiaError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


def _recover_note(task_id: str | None) -> str:
    """For a task the server holds, maybe paid for but not saved here."""
    if not task_id:
        return ""
    return f" Task {task_id} stays in the journal: xj.recover() collects it later, without paying again."


# Raised before anything is sent ----------------------------------------------


class InvalidRequestError(XenodiaError, ValueError):
    """The request breaks a rule; raised before anything is sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def headline(self) -> str:
        if self.field == "api_key":
            return "No API key is set, so nothing was sent."
        if self.field == "prompt":
            return "Write a prompt first." if "empty" in self.message else "The prompt cannot be sent as it is."
        if self.field.startswith("references") or self.field == "image_input":
            return "A reference cannot be used, so nothing was sent."
        return "This request breaks a rule, so nothing was sent."

    @property
    def advice(self) -> str:
        if self.field == "api_key":
            return (
                "Set XENODIA_API_KEY (or pass api_key=...), then try again; a new panel picks up a new key. "
                "To try things for free, run the emulator: python -m xenodia_jupyter.emulator"
            )
        if self.field == "prompt":
            return f"The prompt {self.message}."
        return f"Fix {self.field} and try again: {self.message}"


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

    @property
    def headline(self) -> str:
        return "Over budget: nothing was sent."

    @property
    def advice(self) -> str:
        return (
            f"This call costs ${self.price_usd:.2f} and ${self.spent_usd:.2f} of the ${self.budget_usd:.2f} "
            "budget is spent. Raise the budget (budget_usd=..., or %config XenodiaSettings.budget_usd) to go on."
        )


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

    @property
    def headline(self) -> str:
        return f"The server refused the request ({self.status_code})."

    @property
    def advice(self) -> str:
        return "The server's reason is below; change the request and try again." + _recover_note(self.task_id)


def _rebuild_api_error(cls: type[APIError], message: str, state: dict[str, Any]) -> APIError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.args = (error._describe(),)
    return error


class AuthenticationError(APIError):
    """401: the API key is missing or was refused."""

    @property
    def headline(self) -> str:
        return "The API key was refused (401)."

    @property
    def advice(self) -> str:
        return "Check XENODIA_API_KEY (or the api_key you passed), then try again; a new panel picks up a new key."


class PaymentRequiredError(APIError):
    """402: the account is out of balance (the billing boundary)."""

    @property
    def headline(self) -> str:
        return "The account is out of balance (402): nothing was generated."

    @property
    def advice(self) -> str:
        return "Top up your Xenodia balance, then try again."


class NotFoundError(APIError):
    """404: the task (or a result file) is unknown or has expired."""

    @property
    def headline(self) -> str:
        return "Not found (404): the task or its image is unknown or has expired."

    @property
    def advice(self) -> str:
        return "Check the task id; xj.history() lists every image saved so far."


class ConflictError(APIError):
    """409: the Idempotency-Key was already used with a different request."""

    @property
    def headline(self) -> str:
        return "The server refused a repeated request key (409): it was used for another request."

    @property
    def advice(self) -> str:
        return "Nothing new was billed. Send the request again without reusing its journal entry."


class RateLimitError(APIError):
    """429: too many requests; `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)

    @property
    def headline(self) -> str:
        return "Too many requests right now (429)."

    @property
    def advice(self) -> str:
        wait = f"Wait {self.retry_after:.0f} s" if self.retry_after else "Wait a moment"
        return f"{wait} and try again, or run fewer generations at once." + _recover_note(self.task_id)


class UpstreamError(APIError):
    """502 and other 5xx: generation failed upstream or the gateway broke."""

    @property
    def headline(self) -> str:
        if self.task_id:
            return f"The image service failed ({self.status_code}) while working on the task."
        return f"The image service failed ({self.status_code}); nothing was generated."

    @property
    def advice(self) -> str:
        return "This is usually temporary: try again in a moment." + _recover_note(self.task_id)


_STATUS_CLASSES: dict[int, type[APIError]] = {
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    409: ConflictError,
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
    """The server could not be reached, dropped the connection, or answered garbage.
    `sent` is False when the request provably never left this machine (nothing
    can have been billed), None when that is not known."""

    def __init__(self, message: str, *, task_id: str | None = None, sent: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.task_id = task_id
        self.sent = sent

    @property
    def headline(self) -> str:
        return "Could not talk to the image service."

    @property
    def advice(self) -> str:
        return "Check the network and XENODIA_BASE_URL, then try again." + _recover_note(self.task_id)


class APIResponseError(APIConnectionError):
    """The server answered, but not as the API documents: a body that is not
    JSON, a task envelope without a task id or state, impossible numbers.
    (An `APIConnectionError` too, for code written before it existed.)"""

    @property
    def headline(self) -> str:
        return "The image service answered in a way the API does not document."

    @property
    def advice(self) -> str:
        return "Try again; if it keeps happening, report the details below." + _recover_note(self.task_id)


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

    @property
    def headline(self) -> str:
        return "The generation failed on the server."

    @property
    def advice(self) -> str:
        return "Try again, perhaps with other words or references; the server's reason is below."


class TaskTimeoutError(XenodiaError, TimeoutError):
    """The caller's deadline passed before the task finished; it may still finish.

    Pick it up later with `client.retrieve(task_id)` or `xj.recover()`.
    """

    def __init__(self, task_id: str | None, last_state: str | None, waited_s: float, *, sent: bool | None = None) -> None:
        self.task_id = task_id
        self.last_state = last_state
        self.waited_s = waited_s
        self.sent = sent  # False: the deadline passed before the request left (nothing billed)
        if sent is False:
            text = f"the deadline passed after {waited_s:.0f} s while {last_state}; nothing was sent"
        else:
            text = (
                f"task {task_id} was still {last_state!r} after {waited_s:.0f} s; "
                f"it is journaled: finish it later with client.retrieve({task_id!r}) or xj.recover()"
            )
        super().__init__(text)

    def __reduce__(self) -> Any:
        return (_rebuild_timeout, (self.task_id, self.last_state, self.waited_s, self.sent))

    @property
    def headline(self) -> str:
        if self.sent is False:
            return f"Stopped waiting after {_seconds(self.waited_s)} s; nothing was sent."
        return f"Stopped waiting after {_seconds(self.waited_s)} s; the image may still arrive."

    @property
    def advice(self) -> str:
        if self.sent is False:
            return "Nothing was billed: try again with a longer timeout, or fewer calls at once."
        if not self.task_id:
            return "The server had not named a task yet; if one was made, xj.recover() finds it in the journal."
        return (
            f"Task {self.task_id} (last seen {self.last_state!r}) stays in the journal: "
            "xj.recover() collects it later, without paying again."
        )


def _rebuild_timeout(task_id: str | None, last_state: str | None, waited_s: float, sent: bool | None) -> TaskTimeoutError:
    return TaskTimeoutError(task_id, last_state, waited_s, sent=sent)


# The output folder ---------------------------------------------------------------


class StorageError(XenodiaError, OSError):
    """The output folder or its journal could not be written or read (disk
    full, locked, damaged, from a newer version).  `task_id` names a paid task
    that was kept in the fallback file, when there is one; `path` is the file."""

    def __init__(self, message: str, *, path: str | None = None, task_id: str | None = None) -> None:
        XenodiaError.__init__(self, message)
        self.message = message
        self.path = path
        self.task_id = task_id

    def __str__(self) -> str:
        return self.message

    @property
    def headline(self) -> str:
        return "The output folder or its journal could not be used."

    @property
    def advice(self) -> str:
        return "Free disk space, or move the damaged journal aside as the message says." + _recover_note(self.task_id)


def _seconds(value: float) -> str:
    """12 s, 0.5 s: a whole number once it is long enough not to need a decimal."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def describe_exception(exc: BaseException) -> str:
    """`Type: message` (or just `Type`), for journal rows and the technical line of a message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact(text: str, secret: str | None) -> str:
    """Replace `secret` in `text` (used on anything built from server text)."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text
