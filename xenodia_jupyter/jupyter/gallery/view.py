"""The gallery as the browser draws it: one anywidget (static/gallery.js and
gallery.css, no build step) whose state is the search box, the selection, the
order and the small records of the cards shown, and nothing else.

The browser asks for what it needs by custom messages `{"event": name, ...}`,
which go to the handler of that name (`on_event`); pictures come back the
same way, each JPEG as a message buffer (`pictures.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ...errors import describe_exception
from ..markup import describe

STATIC = Path(__file__).with_name("static")
PAGE_SIZE = 48  # cards drawn at once; scrolling to the end (or "More") draws the next page


def static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


class GalleryView(anywidget.AnyWidget):
    """`cards`: the records of the cards drawn (`items.card_record`), the first
    `len(cards)` of the `matched` results the query finds among `total`."""

    _esm = traitlets.Unicode(static_text("gallery.js")).tag(sync=True)
    _css = traitlets.Unicode(static_text("gallery.css")).tag(sync=True)
    cards = traitlets.List(traitlets.Dict()).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    matched = traitlets.Int(0).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    selection = traitlets.List(traitlets.Int()).tag(sync=True)
    order = traitlets.Unicode("given").tag(sync=True)
    orders = traitlets.List(traitlets.Unicode()).tag(sync=True)
    can_compare = traitlets.Bool(False).tag(sync=True)  # a compare view can be built here
    note = traitlets.Unicode("").tag(sync=True)  # one line: what went wrong, or what happened

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.on_msg(self._message)

    def on_event(self, name: str, handler: Callable[[dict[str, Any]], None]) -> None:
        self._handlers[name] = handler

    def receive(self, content: dict[str, Any]) -> None:
        """What a message from the browser does (tests call it as the browser would)."""
        handler = self._handlers.get(str(content.get("event", "")))
        if handler is None:
            return
        if content.get("event") != "thumbs":
            self.note = ""
        try:
            handler(content)
        except Exception as exc:  # shown in the gallery, never only in the kernel's log
            self.note = f"{describe(exc)[0]} {describe_exception(exc)}"

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict):
            self.receive(content)
