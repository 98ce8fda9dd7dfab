"""The emulator's two Starlette apps: the API origin and the CDN origin.

Both share one `EmulatorState`.  The handlers live in api.py and cdn.py, the
reading and checking of a generation request in intake.py and checks.py
(against the emulator's own table, contract.py), fault injection in faults.py.
"""

from __future__ import annotations

from typing import Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .api import create_generation, get_task, list_models
from .bodies import error_response, model_item, status_phrase
from .cdn import get_file, get_reference
from .faults import EmulatedDrop
from .state import EmulatorState, RecordedRequest

__all__ = ["create_app", "create_cdn_app", "model_item", "EmulatedDrop", "Recorder"]


class Recorder:
    """ASGI middleware: records every request (origin, method, path, Authorization present)."""

    def __init__(self, app: ASGIApp, state: EmulatorState, origin: Literal["api", "cdn"]) -> None:
        self.app = app
        self.state = state
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            has_auth = any(name == b"authorization" for name, _ in scope["headers"])
            self.state.record(RecordedRequest(self.origin, scope["method"], scope["path"], has_auth))
        await self.app(scope, receive, send)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_response(status, f"{request.method} {request.url.path}: {status_phrase(status)}")


def _app(state: EmulatorState, origin: Literal["api", "cdn"], routes: list[Route]) -> Starlette:
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Recorder, state=state, origin=origin)],
        exception_handlers={HTTPException: http_error},
    )
    app.state.emulator = state
    return app


def create_app(state: EmulatorState | None = None) -> Starlette:
    """The API origin.  Usable in-process through `httpx.ASGITransport(app=create_app(state))`."""
    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/images/generations", create_generation, methods=["POST"]),
        Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
        # The sample references, here too: a notebook that knows only the base URL can use them.
        Route("/refs/{name}", get_reference, methods=["GET"]),
    ]
    return _app(state or EmulatorState(), "api", routes)


def create_cdn_app(state: EmulatorState) -> Starlette:
    """The CDN origin that serves result files (it knows no API routes and wants no key)."""
    routes = [
        Route("/files/{task_id}/{index:int}.png", get_file, methods=["GET"]),
        Route("/refs/{name}", get_reference, methods=["GET"]),
    ]
    return _app(state, "cdn", routes)
