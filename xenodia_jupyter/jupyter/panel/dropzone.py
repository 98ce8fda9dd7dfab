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


MAX_PARTS = -(-rules.MAX_REFERENCE_BYTES // CHUNK_BYTES)  # a whole file under the limit needs no more
MAX_HELD_BYTES = rules.MAX_REFERENCE_BYTES + CHUNK_BYTES  # the browser sends one file's parts at a time
MAX_NAME_CHARS = 80


class DropZone(anywidget.AnyWidget):
    """`on_file(name, data)` for each file that arrived whole; `on_refused(name,
    why)` for one that was not taken; `on_batch_end()` after each drop or paste.

    The browser's limits are checked again here, as parts arrive, since any
    sender can talk to the kernel: a file over 30 MiB, more parts than that
    needs, more files than a request takes, or parts that do not add up are
    refused at once and their bytes let go (never held until the end)."""

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
        self._assembling: dict[str, _Assembly] = {}
        self._refused: set[str] = set()  # ids whose later parts are ignored
        self._files_in_batch = 0
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        name = shown_name(content.get("name"))
        if event == "part" and buffers:
            self._part(str(content.get("id")), name, content, bytes(buffers[0]))
        elif event == "refused":
            size = _whole(content.get("size")) or 0
            self._on_refused(name, f"it is {size:,} bytes; at most {rules.MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed")
        elif event == "end":
            self._assembling.clear()
            self._refused.clear()
            self._files_in_batch = 0
            self._on_batch_end()

    def _part(self, key: str, name: str, content: dict[str, Any], chunk: bytes) -> None:
        if key in self._refused:
            return
        assembly = self._assembling.get(key)
        if assembly is None:
            count, size = _whole(content.get("count")), _whole(content.get("size"))
            self._files_in_batch += 1
            if self._files_in_batch > rules.MAX_REFERENCES:
                return self._refuse(key, name, f"at most {rules.MAX_REFERENCES} files can be dropped at once")
            if count is None or not 1 <= count <= MAX_PARTS or size is None or size > rules.MAX_REFERENCE_BYTES:
                shown = f"{size:,} bytes" if size is not None else "of unknown size"
                return self._refuse(key, name, f"it is {shown}; at most {rules.MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed")
            assembly = self._assembling[key] = _Assembly(count, size)
        index = _whole(content.get("index"))
        if index is None or not 0 <= index < assembly.count or index in assembly.parts:
            return self._refuse(key, name, "its parts arrived out of order or twice; drop it again")
        assembly.parts[index] = chunk
        assembly.held += len(chunk)
        if assembly.held > assembly.size or sum(a.held for a in self._assembling.values()) > MAX_HELD_BYTES:
            return self._refuse(key, name, "more bytes arrived than the file has; drop it again")
        if len(assembly.parts) == assembly.count:
            del self._assembling[key]
            data = b"".join(assembly.parts[i] for i in range(assembly.count))
            if len(data) != assembly.size:
                return self._refuse(key, name, f"{len(data):,} of its {assembly.size:,} bytes arrived; drop it again")
            self._on_file(name, data)

    def _refuse(self, key: str, name: str, why: str) -> None:
        self._assembling.pop(key, None)  # its bytes are let go now
        self._refused.add(key)
        self._on_refused(name, why)

    def receive(self, *files: tuple[str, bytes]) -> None:
        """What a drop of `files` sends (tests call it from Python)."""
        for index, (name, data) in enumerate(files):
            chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
            for part, chunk in enumerate(chunks):
                message = {"event": "part", "id": f"py-{index}", "name": name, "index": part,
                           "count": len(chunks), "size": len(data)}
                self._message(self, message, [memoryview(chunk)])
        self._message(self, {"event": "end"}, [])


class _Assembly:
    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = size
        self.parts: dict[int, bytes] = {}
        self.held = 0


def shown_name(name: object) -> str:
    """A file name as the panel shows and the notebook keeps it: printable, and
    at most 80 characters with its extension kept (a sender may send 2 MB)."""
    text = "".join(c for c in str(name or "pasted.png") if c.isprintable()) or "pasted.png"
    if len(text) <= MAX_NAME_CHARS:
        return text
    stem, dot, ext = text.rpartition(".")
    ext = ext[:10] if dot else ""
    return text[: MAX_NAME_CHARS - len(ext) - 2] + "…" + ("." + ext if ext else "")


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
