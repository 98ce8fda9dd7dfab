"""A gallery card: `ResultCard`, one result with its buttons, drawn by
`CardFace`, one small anywidget (an ES module, no build step: static/card_face.js).

    face = CardFace(src=jpeg_data_url(thumbnail), title=prompt, caption=html, actions=[...])
    face.on_action(lambda name: ...)    # "open" (the picture), or an action's name

One widget model instead of about twenty (a Button is three models: the
button, its layout, its style), because every card is saved with the
notebook: twenty cards must stay well under 300 KB.  The buttons are plain
<button>s with ipywidgets' classes and Font Awesome icons, and a tooltip each.
`CardButton` gives Python what an ipywidgets Button would (`click()`,
`icon`, `tooltip`, `button_style`); `CardToggle` is the compare toggle.

Widget state only ever holds small JPEG thumbnails and text: never the
full-size images, never the API key.
"""

from __future__ import annotations

import keyword
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as widgets
import traitlets

from .. import markup
from ..markup import CARD_PX, error_html, note_html
from .widget_tools import button, close_tree, show, static_text

if TYPE_CHECKING:
    from ...core.results import GenerationResult


def card_thumbnail(result: GenerationResult) -> bytes:
    """The JPEG a gallery card shows for `result` (b"" when its file cannot be read)."""
    try:
        return result.thumbnail(0, CARD_PX)
    except Exception:
        return b""


def valid_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


class ResultCard:
    """One result in the gallery: a small thumbnail (click: the lightbox) with the
    prompt as tooltip, a caption, and a row of icon buttons with tooltips: use
    as reference, save as…, to variable, star, reject, pick for comparing.

    `rating` is 1 (starred), -1 (rejected) or 0; `on_rate(result, rating)`
    keeps it (the panel writes it to the journal).  `on_compare(card, picked)`
    returns False to refuse a pick."""

    def __init__(
        self,
        result: GenerationResult,
        thumbnail: bytes,
        *,
        name_hint: str,
        on_use: Callable[[GenerationResult], None],
        namespace: Callable[[], dict[str, Any] | None],
        rating: int = 0,
        on_rate: Callable[[GenerationResult, int], None] | None = None,
        on_open: Callable[[ResultCard], None] | None = None,
        on_compare: Callable[[ResultCard, bool], bool] | None = None,
        on_remix: Callable[[GenerationResult], None] | None = None,
        on_parent: Callable[[ResultCard], None] | None = None,
        parent_prompt: str | None = None,
    ) -> None:
        self.result = result
        self.thumbnail = thumbnail
        self.rating = rating
        self.parent_prompt = parent_prompt if result.parent else None
        self._namespace = namespace
        self._on_rate = on_rate
        self._on_compare = on_compare
        facts = [b for b in (result.aspect_ratio, result.resolution) if b]
        if result.cost_usd is not None:
            facts.append(f"${result.cost_usd:.2f}")
        self.image = CardFace(
            src=markup.jpeg_data_url(thumbnail),
            title=result.prompt,
            size_px=CARD_PX,
            caption=markup.card_caption_html(result.prompt, " · ".join(facts))
            + (markup.lineage_html(parent_prompt) if result.parent and parent_prompt is not None else ""),
        )
        if on_open is not None:
            self.image.on_action(lambda name: on_open(self) if name == "open" else None)
        if on_parent is not None:  # the "remix of …" line
            self.image.on_action(lambda name: on_parent(self) if name == "parent" else None)
        add = self.image.add_button
        self.use_button = add("use", "xenodia-use-ref", "plus", "Use as reference", lambda: on_use(result))
        self.save_button = add("save", "xenodia-save", "save", "Save a copy as…", lambda: self._open_form("save"))
        self.var_button = add("var", "xenodia-to-var", "code", "Bind to a variable", lambda: self._open_form("var"))
        self.star_button = add(
            "star", "xenodia-star", "star-o", "Star (kept in the journal)", lambda: self.rate(0 if self.rating == 1 else 1)
        )
        self.reject_button = add(
            "reject", "xenodia-reject", "ban", "Reject (kept in the journal)", lambda: self.rate(0 if self.rating == -1 else -1)
        )
        if on_remix is not None:
            self.remix_button = add("remix", "xenodia-remix", "random",
                                    "Remix: load its prompt, parameters and references into the form",
                                    lambda: on_remix(result))
        self.compare_toggle = self.image.add_toggle(
            "compare", "xenodia-compare-pick", "columns", "Pick for comparing (2 to 4)", self._compare_changed
        )
        self._mode = ""
        self._default_file = result.paths[0].name if result.paths else "image.png"
        self._default_name = name_hint
        self.form: Any = None  # "save as…" and "to variable" build it when first opened
        self.note = widgets.HTML("")
        self.note.add_class("xenodia-card-note")
        self.box = widgets.VBox(
            [self.image, self.note],
            layout=widgets.Layout(
                width=f"{markup.CARD_WIDTH_PX}px", padding="4px", border=f"1px solid {markup.RULE}", align_items="center"
            ),
        )
        self.box.add_class("xenodia-card")
        self._show_rating()

    def set_thumbnail(self, data: bytes) -> None:
        """Fill in a thumbnail made later (cards loaded from the history)."""
        self.thumbnail = data
        if self.image.comm is not None:
            self.image.src = markup.jpeg_data_url(data)

    # Rating and comparing -----------------------------------------------------------------------

    def rate(self, rating: int) -> None:
        """Star (1), reject (-1) or clear (0); kept through `on_rate`, then shown."""
        try:
            if self._on_rate is not None:
                self._on_rate(self.result, rating)
        except Exception as exc:  # shown on the card, never only in the log
            self.note.value = error_html(exc)
            return
        self.rating = rating
        self._show_rating()

    def _show_rating(self) -> None:
        starred, rejected = self.rating == 1, self.rating == -1
        self.star_button.icon = "star" if starred else "star-o"
        self.star_button.button_style = "warning" if starred else ""
        self.star_button.tooltip = "Starred: click to clear" if starred else "Star (kept in the journal)"
        self.reject_button.button_style = "danger" if rejected else ""
        self.reject_button.tooltip = "Rejected: click to clear" if rejected else "Reject (kept in the journal)"
        for css, on in (("xenodia-starred", starred), ("xenodia-rejected", rejected)):
            (self.box.add_class if on else self.box.remove_class)(css)

    def _compare_changed(self, picked: bool) -> None:
        if self._on_compare is not None and not self._on_compare(self, picked):
            self.compare_toggle.value = False

    def shown_by(self, view: str) -> bool:
        """Whether the gallery filter `view` ("all", "starred", "not rejected") shows this card."""
        if view == "starred":
            return self.rating == 1
        if view == "not rejected":
            return self.rating != -1
        return True

    # Save as… and to variable ---------------------------------------------------------------------

    def _build_form(self) -> None:
        """The small form "save as…" and "to variable" open: a field and OK (made on
        first use: every widget of a card is saved with the notebook)."""
        self.field = widgets.Text(layout=widgets.Layout(width="110px"))
        self.field.add_class("xenodia-card-field")
        self.ok_button = button("OK", "xenodia-card-ok", width="46px")
        self.ok_button.on_click(lambda _b: self._confirm())
        self.form = widgets.HBox([self.field, self.ok_button], layout=widgets.Layout(display="none", width="160px"))
        self.box.children = [*self.box.children[:-1], self.form, self.note]

    def _open_form(self, mode: str) -> None:
        if self.form is None:
            self._build_form()
        if self._mode == mode:  # a second click closes the form
            self._mode = ""
            show(self.form, False)
            return
        self._mode = mode
        self.field.value = self._default_file if mode == "save" else self._default_name
        self.field.placeholder = "file name or path" if mode == "save" else "variable name"
        self.note.value = note_html("Save a copy as:" if mode == "save" else "Bind to the name:")
        show(self.form, True)

    def _confirm(self) -> None:
        try:
            if self._mode == "save":
                self.note.value = note_html(f"saved to {self.save_as(self.field.value)}", markup.SUCCESS)
            elif self._mode == "var":
                name = self.field.value.strip()
                self.to_variable(name)
                self.note.value = note_html(f"bound to {name}", markup.SUCCESS)
            else:
                return
        except Exception as exc:
            self.note.value = markup.message_html(str(exc))
            return
        self._mode = ""
        show(self.form, False)

    def save_as(self, target: str) -> Path:
        """Copy the image file to `target` (a file name, a path, or a folder)."""
        if not target.strip():
            raise ValueError("give a file name")
        destination = Path(target.strip()).expanduser()
        if destination.is_dir():
            destination = destination / self.result.paths[0].name
        if not destination.suffix:
            destination = destination.with_suffix(self.result.paths[0].suffix)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.result.paths[0], destination)
        return destination

    def to_variable(self, name: str) -> None:
        if not valid_name(name):
            raise ValueError(f"{name!r} is not a valid Python name")
        namespace = self._namespace()
        if namespace is None:
            raise RuntimeError("no IPython namespace to bind the result in")
        namespace[name] = self.result

    def close(self) -> None:
        close_tree(self.box)


# The face ---------------------------------------------------------------------------------------


_ESM = static_text("card_face.js")  # minified: every card's state carries it


class CardFace(anywidget.AnyWidget):
    """An <img> (a JPEG data URL) with a tooltip, a caption (HTML escaped by
    `markup`) and icon buttons; clicks come to the kernel as custom messages."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    src = traitlets.Unicode("").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    size_px = traitlets.Int(128).tag(sync=True)
    actions = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buttons: list[CardButton] = []
        self._handlers: list[Callable[[str], None]] = []
        self.on_msg(self._message)

    def add_button(self, name: str, css: str, icon: str, tooltip: str, on_click: Callable[[], None]) -> CardButton:
        made = CardButton(self, name, css, icon, tooltip, on_click)
        self.buttons.append(made)
        self.redraw()
        return made

    def add_toggle(self, name: str, css: str, icon: str, tooltip: str, on_change: Callable[[bool], None]) -> CardToggle:
        toggle = CardToggle(self, name, css, icon, tooltip, on_change)
        self.buttons.append(toggle)
        self.redraw()
        return toggle

    def redraw(self) -> None:
        if self.comm is not None:
            self.actions = [item.as_dict() for item in self.buttons]

    def on_action(self, handler: Callable[[str], None]) -> None:
        self._handlers.append(handler)

    def act(self, name: str) -> None:
        """What a click in the browser does ("open": the picture; else a button's name)."""
        for handler in self._handlers:
            handler(name)
        for item in self.buttons:
            if item.name == name:
                item.click()

    def click(self) -> None:
        """A click on the picture."""
        self.act("open")

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "action":
            self.act(str(content.get("name", "")))


class CardButton:
    """One icon button of a `CardFace`, with the parts of an ipywidgets Button
    that the panel and its tests use.  Changing one redraws the face."""

    def __init__(
        self, face: CardFace, name: str, css: str, icon: str, tooltip: str, on_click: Callable[[], None]
    ) -> None:
        self._face = face
        self.name, self.css = name, css
        self._icon, self._tooltip, self._style, self._active = icon, tooltip, "", False
        self._on_click = on_click

    def click(self) -> None:
        self._on_click()

    @property
    def comm(self) -> Any:
        return self._face.comm

    @property
    def icon(self) -> str:
        return self._icon

    @icon.setter
    def icon(self, value: str) -> None:
        self._icon = value
        self._face.redraw()

    @property
    def tooltip(self) -> str:
        return self._tooltip

    @tooltip.setter
    def tooltip(self, value: str) -> None:
        self._tooltip = value
        self._face.redraw()

    @property
    def button_style(self) -> str:
        return self._style

    @button_style.setter
    def button_style(self, value: str) -> None:
        self._style = value
        self._face.redraw()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "css": self.css,
            "icon": self._icon,
            "tooltip": self._tooltip,
            "style": self._style,
            "active": self._active,
        }


class CardToggle(CardButton):
    """A button that stays pressed: `value`; `on_change(value)` after each change."""

    def __init__(
        self, face: CardFace, name: str, css: str, icon: str, tooltip: str, on_change: Callable[[bool], None]
    ) -> None:
        super().__init__(face, name, css, icon, tooltip, lambda: setattr(self, "value", not self.value))
        self._on_change = on_change

    @property
    def value(self) -> bool:
        return self._active

    @value.setter
    def value(self, new: bool) -> None:
        if bool(new) == self._active:
            return
        self._active = bool(new)
        self._face.redraw()
        self._on_change(self._active)
