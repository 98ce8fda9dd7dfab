"""Drop and paste references: a small anywidget (an ES module, no build step:
static/dropzone.js and dropzone.css).

    zone = DropZone(on_file=lambda name, data: ..., on_refused=lambda name, why: ..., on_batch_end=...)

Dropping image files on the zone, or pasting an image (Ctrl/Cmd+V) while the
focus is anywhere in the panel, sends each file's bytes to the kernel once,
as custom messages (in 4 MiB parts, under the server's 10 MiB message
limit).  They never become widget state, so the saved notebook cannot hold
them.  A file over the size limit is refused in the browser and never sent;
every other check (type from the bytes, how many) is the kernel's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from ...wire import rules
from .. import markup
from .widget_tools import static_text

CHUNK_BYTES = 4 * 2**20

_ESM = static_text("dropzone.js", CHUNK_BYTES=CHUNK_BYTES, LIMIT_BYTES=rules.MAX_REFERENCE_BYTES)
_CSS = static_text("dropzone.css", PANEL_RULE=markup.PANEL_RULE, NOTE=markup.NOTE)


class DropZone(anywidget.AnyWidget):
    """`on_file(name, data)` for each file that arrived whole; `on_refused(name,
    why)` for one the browser did not send; `on_batch_end()` after each drop or paste."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    _css = traitlets.Unicode(_CSS).tag(sync=True)

    def __init__(
        self,
        *,
        on_file: Callable[[str, bytes], None],
        on_refused: Callable[[str, str], None],
        on_batch_end: Callable[[], None],
    ) -> None:
        super().__init__()
        self.add_class("xenodia-drop")
        self._on_file = on_file
        self._on_refused = on_refused
        self._on_batch_end = on_batch_end
        self._parts: dict[str, list[bytes]] = {}
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        name = str(content.get("name") or "pasted.png")
        if event == "part" and buffers:
            parts = self._parts.setdefault(str(content.get("id")), [])
            parts.append(bytes(buffers[0]))
            if len(parts) >= int(content.get("count", 1)):
                data = b"".join(self._parts.pop(str(content.get("id"))))
                self._on_file(name, data)
        elif event == "refused":
            size = int(content.get("size", 0))
            self._on_refused(
                name, f"it is {size:,} bytes; at most {rules.MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed"
            )
        elif event == "end":
            self._parts.clear()
            self._on_batch_end()

    def receive(self, *files: tuple[str, bytes]) -> None:
        """What a drop of `files` sends (tests call it from Python)."""
        for index, (name, data) in enumerate(files):
            chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
            for part, chunk in enumerate(chunks):
                message = {"event": "part", "id": f"py-{index}", "name": name, "index": part, "count": len(chunks)}
                self._message(self, message, [memoryview(chunk)])
        self._message(self, {"event": "end"}, [])
