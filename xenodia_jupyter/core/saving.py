"""A finished task's images, from the CDN to the output folder.

Downloads never carry the key (the CDN is another origin), are capped, and
end by the call's deadline; a result URL that expired or failed says that
the image is paid for and journaled, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import APIConnectionError, APIError, NotFoundError
from ..store.entries import JournalEntry
from ..store.outputs import OutputStore, SavedFile
from ..wire.protocol import Task, public_url
from ..wire.transport import Transport

PAID_HINT = "The image is paid for and journaled: xj.recover() downloads it later"


async def save_images(
    task: Task,
    row: JournalEntry | None,
    *,
    transport: Transport,
    store: OutputStore,
    prompt: str,
    params: dict[str, Any],
    cost: float | None,
    entry: str,
    deadline: float,
    max_bytes: int,
) -> list[SavedFile]:
    """Download a finished task's images (without the key, size-capped) and
    save each atomically with its facts beside it; `row` is its journal entry."""

    async def one(index: int, url: str) -> SavedFile:
        try:
            data = await transport.download(url, limit=max_bytes, deadline=deadline)
        except NotFoundError:
            raise NotFoundError(
                f"the result URL has expired or is gone: {public_url(url)}. {PAID_HINT} (it asks the server for fresh URLs)",
                status_code=404,
                task_id=task.task_id,
            ) from None
        except APIError as exc:
            raise type(exc)(
                f"{exc.message} (downloading {public_url(url)}). {PAID_HINT}",
                status_code=exc.status_code,
                code=exc.code,
                request_id=exc.request_id,
                task_id=task.task_id,
            ) from None
        facts = {
            **params,
            "references": reference_digests,
            "task_id": task.task_id,
            "request_id": task.request_id,
            "cost_usd": cost,
            "journal_id": entry,
            "parent": row.parent if row is not None else None,
            "created_at": created_at,
        }
        # The side file and the PNG's provenance chunk are shared: never the URL's signature.
        shared_url = public_url(url)
        return await asyncio.to_thread(store.save_result, data, url=shared_url, prompt=prompt, index=index, facts=facts)

    if not task.urls:
        raise APIConnectionError("the task succeeded but returned no image URL", task_id=task.task_id)
    reference_digests = [r.get("digest") for r in row.refs] if row is not None else []
    # The file name comes from the entry, not the clock: a save done again after a
    # crash (recover, a resumed job) replaces the orphan file instead of adding one.
    created_at = row.created_at if row is not None else time.time()
    return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(task.urls))))
