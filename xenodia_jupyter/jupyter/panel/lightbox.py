"""The panel's lightbox: one result large, as an overlay over the panel (Esc
or a click outside closes it, ← and → step through the results).

    lightbox.show_card(cards, index) # show cards[index]; ‹ and › go through `cards`
    lightbox.close_view()            # hide it and drop the picture from widget state
    lightbox.remix_button / parent_button   # Remix; "remix of …" (the gallery sets on_remix, on_parent)

The picture is a screen-sized JPEG (at most PREVIEW_PX on a side), made on a
worker thread from the saved file; the 4K PNG never reaches the browser.  It
is dropped when the lightbox closes, so a saved notebook does not keep it.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ...images.thumbnails import jpeg_thumbnail
from .. import markup
from ..markup import PREVIEW_PX, error_html
from .background import Spawn
from .card import ResultCard
from .widget_tools import button, show, static_text, tagged


class LightboxKeys(anywidget.AnyWidget):
    """Esc, ← and → while the lightbox is open, and a click on its backdrop,
    sent to the kernel as `{"action": "close" | "previous" | "next"}`."""

    _esm = traitlets.Unicode(static_text("lightbox_keys.js")).tag(sync=True)


class Lightbox(widgets.VBox):
    """Hidden until `open`; `start(coro)` runs a coroutine in the background."""

    def __init__(self, start: Spawn) -> None:
        super().__init__(layout=widgets.Layout(display="none", padding="12px"))  # the backdrop (CSS: markup)
        self.add_class("xenodia-lightbox")
        self._start = start
        self._cards: Sequence[ResultCard] = ()
        self.index = -1
        self.previous_button = button(
            "", "xenodia-lightbox-previous", icon="chevron-left", width="40px", tooltip="Previous"
        )
        self.next_button = button("", "xenodia-lightbox-next", icon="chevron-right", width="40px", tooltip="Next")
        self.close_button = button("", "xenodia-lightbox-close", icon="times", width="40px", tooltip="Close")
        self.previous_button.on_click(lambda _b: self.step(-1))
        self.next_button.on_click(lambda _b: self.step(1))
        self.close_button.on_click(lambda _b: self.close_view())
        # Set by the gallery: Remix loads the shown result's recipe; "remix of …" opens its parent.
        self.on_remix: Callable[[ResultCard], None] | None = None
        self.on_parent: Callable[[ResultCard], None] | None = None
        self.remix_button = button("Remix", "xenodia-lightbox-remix", icon="random", width="auto",
                                   tooltip="Load its prompt, parameters and references into the form")
        self.parent_button = button("", "xenodia-lightbox-parent", icon="level-up", width="auto")
        self.remix_button.on_click(lambda _b: self._card_action(self.on_remix))
        self.parent_button.on_click(lambda _b: self._card_action(self.on_parent))
        self.picture = tagged(
            widgets.Image(format="jpeg", layout=widgets.Layout(max_width="100%", object_fit="contain")),
            "xenodia-lightbox-image",
        )
        self.text = tagged(widgets.HTML(layout=widgets.Layout(flex="1 1 auto")), "xenodia-lightbox-caption")
        self.key_listener = LightboxKeys()
        self.key_listener.on_msg(self._key)
        self.children = [  # the words first: a tall picture never pushes them out of sight
            widgets.HBox(
                [self.text, self.previous_button, self.next_button, self.close_button, self.key_listener],
                layout=widgets.Layout(align_items="flex-start"),
            ),
            widgets.HBox([self.remix_button, self.parent_button], layout=widgets.Layout(flex_flow="row wrap")),
            self.picture,
        ]

    def _key(self, _widget: Any, content: Any, _buffers: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action == "close":
            self.close_view()
        elif action in ("previous", "next"):
            self.step(-1 if action == "previous" else 1)

    def _card_action(self, action: Callable[[ResultCard], None] | None) -> None:
        card = self.card
        if card is not None and action is not None:
            action(card)

    @property
    def card(self) -> ResultCard | None:
        return self._cards[self.index] if 0 <= self.index < len(self._cards) else None

    def show_card(self, cards: Sequence[ResultCard], index: int) -> None:
        """Show `cards[index]` large; the arrows go through `cards` (the gallery's order)."""
        self._cards = cards
        self.index = index
        self._draw()
        show(self, True)

    def step(self, by: int) -> None:
        if self._cards:
            self.index = (self.index + by) % len(self._cards)
            self._draw()

    def close_view(self) -> None:
        show(self, False)
        self._cards, self.index = (), -1
        self.picture.value = b""  # not kept in the saved widget state
        self.text.value = ""

    def _draw(self) -> None:
        card = self.card
        if card is None:
            return
        result = card.result
        self.picture.value = card.thumbnail  # the small one at once; the larger one follows
        self.text.value = markup.lightbox_html(result.prompt, facts(result), f"{self.index + 1} of {len(self._cards)}")
        self.previous_button.disabled = self.next_button.disabled = len(self._cards) < 2
        parent = card.parent_prompt
        self.parent_button.description = f"remix of {markup.short(parent, 40)}" if parent else ""
        self.parent_button.tooltip = parent or ""
        show(self.parent_button, bool(parent))
        self._start(self._load_preview(card))

    async def _load_preview(self, card: ResultCard) -> None:
        try:
            data = await asyncio.to_thread(jpeg_thumbnail, card.result.paths[0], PREVIEW_PX)
        except Exception as exc:
            if self.card is card:
                self.text.value += error_html(exc)
            return
        if self.card is card and self.comm is not None:  # still the one shown
            self.picture.value = data


def facts(result: Any) -> list[tuple[str, str]]:
    """The parameters, cost, ids and file of a result, as (name, value) rows."""
    rows = [
        ("aspect ratio", result.aspect_ratio or "—"),
        ("resolution", result.resolution or "—"),
        ("cost", f"${result.cost_usd:.2f}" if result.cost_usd is not None else "—"),
        ("task id", result.task_id or "—"),
    ]
    if result.created_at:
        rows.append(("made", datetime.datetime.fromtimestamp(result.created_at).strftime("%Y-%m-%d %H:%M:%S")))
    if result.paths:
        rows.append(("file", str(result.paths[0])))
    return rows
