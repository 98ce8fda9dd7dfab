"""What `AsyncClient` is made of, declared once for the parts mixed into it.

`Preparation`, `Batches` and `Recovery` each hold one side of the client in
their own module; this base names the attributes and methods they use of
each other (for the type checker; at run time it holds nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from ..images.references import PreparedReference
    from ..store.journal import OutputStore
    from ..wire.polling import ProgressCallback
    from ..wire.protocol import Task
    from ..wire.transport import Transport
    from .budget import Budget, Reservation
    from .preparer import PreparedGeneration
    from .results import GenerationResult


class ClientParts:
    store: OutputStore
    budget: Budget
    base_url: str
    check_urls: bool
    trust_idempotency: bool
    _owner: str
    _transport: Transport

    if TYPE_CHECKING:

        async def prepare(self, prompt: str, references: object = None, **options: Any) -> PreparedGeneration: ...

        async def submit(
            self,
            request: PreparedGeneration,
            *,
            deadline: float,
            on_progress: ProgressCallback | None = None,
            cache: bool | None = None,
            variant: int = 0,
            job_item: tuple[str, int] | None = None,
            resend_entry: str | None = None,
        ) -> GenerationResult: ...

        async def retrieve(
            self, task_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None
        ) -> GenerationResult: ...

        async def _upload_ready(self, refs: list[PreparedReference]) -> list[PreparedReference]: ...

        def _deadline(self, timeout: float | None) -> float: ...

        async def _claim(self, entry: str) -> bool: ...

        def _cached(self, key: str) -> GenerationResult | None: ...

        async def _finish(
            self,
            task: Task,
            entry: str,
            *,
            prompt: str,
            params: dict[str, Any],
            held: Reservation | None,
            deadline: float,
            on_progress: ProgressCallback | None,
            poll_first: bool = False,
            recorded: asyncio.Future[None] | None = None,
        ) -> GenerationResult: ...

