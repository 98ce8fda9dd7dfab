"""The gallery's pictures, made on request and sent as custom messages whose
buffer is the JPEG: never widget state, so a saved notebook holds none.

    pictures = Pictures(send)               # send(content, buffers): the view's `send`
    pictures.thumbnails([(3, result), ...]) # {"event": "thumb", "i": 3} + [jpeg], one each
    pictures.preview(token, result)         # {"event": "preview", "token": token} + [jpeg]

Each is made on a small thread pool: a card's 256 px thumbnail is read from
its `.thumb.jpg` once made, but the first one of a 4K PNG decodes the whole
file, and the kernel must stay free meanwhile (ipykernel sends a comm message
from any thread).  Each returns futures, which a test can wait on.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ...images.thumbnails import THUMBNAIL_SIZE
from ..markup import PREVIEW_PX

if TYPE_CHECKING:
    from ...core.results import GenerationResult

Send = Callable[[dict[str, Any], list[bytes]], None]
WORKERS = 2  # pictures are decoded in C without the GIL; two keep the kernel's own thread free

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="xenodia-gallery")
        return _pool


class Pictures:
    """Answers a view's requests for pictures through `send`."""

    def __init__(self, send: Send) -> None:
        self._send = send

    def thumbnails(self, wanted: Iterable[tuple[int, GenerationResult]]) -> list[concurrent.futures.Future[None]]:
        """A card's thumbnail (THUMBNAIL_SIZE px, shown at about half that: sharp on a
        high-density screen) for each (gallery index, result)."""
        return [_executor().submit(self._thumbnail, index, result) for index, result in wanted]

    def preview(self, token: int, result: GenerationResult) -> concurrent.futures.Future[None]:
        """The lightbox's screen-sized JPEG (PREVIEW_PX), never the full PNG."""
        return _executor().submit(self._preview, token, result)

    def _thumbnail(self, index: int, result: GenerationResult) -> None:
        data = _jpeg(result, THUMBNAIL_SIZE)
        self._send({"event": "thumb", "i": index, "missing": not data}, [data] if data else [])

    def _preview(self, token: int, result: GenerationResult) -> None:
        data = _jpeg(result, PREVIEW_PX)
        self._send({"event": "preview", "token": token, "missing": not data}, [data] if data else [])


def _jpeg(result: GenerationResult, size: int) -> bytes:
    """The JPEG, or b"" when the file is gone or unreadable (the card says so)."""
    try:
        return result.thumbnail(0, size) if result.paths else b""
    except Exception:
        return b""
