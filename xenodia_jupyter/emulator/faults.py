"""Fault injection: how a queued `Fault` spoils one answer.

"status", "nested", "html", "empty" and "malformed" replace the answer (a
generation is then NOT billed); "truncated", "drop" and "delay" mangle the
real answer (a generation IS billed first, as a real server would).
"""

from __future__ import annotations

import asyncio

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .bodies import ERRORS, UNKNOWN_ERROR, error_response, status_phrase
from .state import Fault

__all__ = ["DroppedResponse", "EmulatedDrop", "apply_fault", "fault_replacement", "truncated"]


class EmulatedDrop(Exception):
    """Raised mid-response on purpose so the server drops the connection (fault "drop")."""


class DroppedResponse(Response):
    """Sends the start of `inner` and half its body, then breaks the connection."""

    def __init__(self, inner: Response) -> None:
        super().__init__(inner.body, status_code=inner.status_code)
        self.raw_headers = list(inner.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = bytes(self.body[: max(1, len(self.body) // 2)])
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise EmulatedDrop("connection dropped mid-response (emulated fault)")


def truncated(inner: Response) -> Response:
    """`inner` with only the first half of its body, and a Content-Length that matches it."""
    cut = bytes(inner.body[: len(inner.body) // 2])
    response = Response(cut, status_code=inner.status_code)
    response.raw_headers = [(k, v) for k, v in inner.raw_headers if k != b"content-length"]
    response.raw_headers.append((b"content-length", str(len(cut)).encode()))
    return response


def fault_replacement(fault: Fault, route: str) -> Response | None:
    """The answer that replaces the real one, or None when the fault mangles the real answer."""
    headers = {} if fault.retry_after is None else {"Retry-After": _header_number(fault.retry_after)}
    status = fault.status
    phrase = status_phrase(status)
    message = f"{phrase} (emulated fault)"
    if fault.kind == "status":
        return error_response(status, message, headers=headers)
    if fault.kind == "nested":
        _, kind, code = ERRORS.get(status, UNKNOWN_ERROR)
        return JSONResponse({"error": {"message": message, "code": code, "type": kind}}, status, headers=headers)
    if fault.kind == "html":
        page = f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1><hr><p>gateway</p></body></html>"
        return HTMLResponse(page, status, headers=headers)
    if fault.kind == "empty":
        return Response(b"", status, headers=headers)
    if fault.kind == "malformed":
        if route == "download":
            return Response(b"this is not an image " * 64, 200, media_type="image/png")
        return Response(b'{"task_id": "task_', 202 if route == "generate" else 200, media_type="application/json")
    return None


async def apply_fault(fault: Fault | None, response: Response) -> Response:
    """Mangle a real answer: "delay" waits, "truncated" cuts it, "drop" breaks the connection."""
    if fault is None:
        return response
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay)
    elif fault.kind == "truncated":
        return truncated(response)
    elif fault.kind == "drop":
        return DroppedResponse(response)
    return response


def _header_number(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
