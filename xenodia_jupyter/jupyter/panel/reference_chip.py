"""A reference in the picker's strip (`ReferenceChip`), and `DroppedFile`,
which lets a sweep read an uploaded file more than once.  Their HTML is `markup`'s.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .. import markup
from ..markup import CHIP_PX
from .widget_tools import button, close_tree


class ReferenceChip:
    """One reference in the strip: a thumbnail (or the host of a URL), a name and
    a remove button.  `payload` is what goes to `client.prepare`."""

    def __init__(self, payload: Any, label: str, kind: str, on_remove: Callable[[ReferenceChip], None]) -> None:
        self.payload = payload
        self.label = label
        self.kind = kind  # "upload", "namespace", "url" or "result"
        self.count = len(payload.paths) if kind == "result" else 1
        if kind == "url":
            self.picture: Any = widgets.HTML(markup.url_tile_html())
        else:
            side = f"{CHIP_PX}px"
            self.picture = widgets.Image(format="jpeg", layout=widgets.Layout(width=side, height=side, object_fit="contain"))
        self.picture.add_class("xenodia-ref-thumb")  # no tooltip here: the Image view cannot take one
        self.name = widgets.HTML(markup.chip_label_html(label))
        self.remove_button = button("", "xenodia-ref-remove", tooltip=f"remove {label}", icon="times", width="26px")
        self.remove_button.on_click(lambda _b: on_remove(self))
        self.box = widgets.VBox(
            [self.picture, widgets.HBox([self.name, self.remove_button], layout=widgets.Layout(align_items="center"))],
            layout=widgets.Layout(width="76px", margin="0 6px 4px 0", align_items="center"),
        )
        self.box.add_class("xenodia-ref")

    def value(self) -> Any:
        """What to pass to `client.prepare`: uploads become a fresh named file
        object each time (so the multipart part keeps the file name)."""
        if self.kind == "upload":
            stream = io.BytesIO(self.payload)
            stream.name = self.label
            return stream
        return self.payload

    def set_thumbnail(self, data: bytes) -> None:
        if isinstance(self.picture, widgets.Image) and self.picture.comm is not None:
            self.picture.value = data

    def close(self) -> None:
        close_tree(self.box)


class DroppedFile:
    """A dropped, pasted or uploaded file as a reference that can be read any
    number of times: `__xenodia_references__()` gives a new named stream on
    every call.  (A sweep prepares its references once per aspect ratio; a
    stream reads once.)"""

    def __init__(self, chip: ReferenceChip) -> None:
        self.chip = chip

    def __xenodia_references__(self) -> list[Any]:
        return [self.chip.value()]


def rereadable(chips: list[ReferenceChip]) -> list[Any]:
    """What the chips send, with each upload as a `DroppedFile`."""
    return [DroppedFile(chip) if chip.kind == "upload" else chip.value() for chip in chips]
