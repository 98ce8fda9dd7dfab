"""The face of a gallery card: thumbnail, caption and a row of icon buttons, in
one small anywidget (an ES module, no build step).

    face = CardFace(src=jpeg_data_url(thumbnail), title=prompt, caption=html, actions=[...])
    face.on_action(lambda name: ...)    # "open" (the picture), or an action's name

One widget model instead of about twenty (a Button is three models: the
button, its layout, its style), because every card is saved with the
notebook: twenty cards must stay well under 300 KB.  The buttons are plain
<button>s with ipywidgets' classes and Font Awesome icons, and a tooltip each.
`CardButton` gives Python what an ipywidgets Button would (`click()`,
`icon`, `tooltip`, `button_style`); `picked` is the compare toggle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

# Kept short: every card's state carries it.
_ESM = """export default{render({model:m,el}){el.classList.add("xenodia-face");
const t=document.createElement("div"),i=document.createElement("img"),c=document.createElement("div"),
r=document.createElement("div");t.className="xenodia-thumb";t.append(i);r.className="xenodia-actions";
i.addEventListener("click",()=>m.send({event:"action",name:"open"}));
const d=()=>{const s=m.get("size_px");i.src=m.get("src");i.title=m.get("title");i.alt=m.get("title").slice(0,40);
i.style.cssText=`width:${s}px;height:${s}px;object-fit:contain;display:block`;c.innerHTML=m.get("caption");
r.replaceChildren(...m.get("actions").map(a=>{const b=document.createElement("button");
b.className=`jupyter-button widget-button ${a.css}`+(a.style?` mod-${a.style}`:"")+(a.active?" mod-active":"");
b.title=a.tooltip;b.setAttribute("aria-label",a.tooltip);b.innerHTML=`<i class="fa fa-${a.icon}"></i>`;
b.addEventListener("click",()=>m.send({event:"action",name:a.name}));return b}))};
m.on("change",d);d();el.append(t,c,r);return()=>m.off("change",d)}}"""


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
        button = CardButton(self, name, css, icon, tooltip, on_click)
        self.buttons.append(button)
        self.redraw()
        return button

    def add_toggle(self, name: str, css: str, icon: str, tooltip: str, on_change: Callable[[bool], None]) -> CardToggle:
        toggle = CardToggle(self, name, css, icon, tooltip, on_change)
        self.buttons.append(toggle)
        self.redraw()
        return toggle

    def redraw(self) -> None:
        if self.comm is not None:
            self.actions = [button.as_dict() for button in self.buttons]

    def on_action(self, handler: Callable[[str], None]) -> None:
        self._handlers.append(handler)

    def act(self, name: str) -> None:
        """What a click in the browser does ("open": the picture; else a button's name)."""
        for handler in self._handlers:
            handler(name)
        for button in self.buttons:
            if button.name == name:
                button.click()

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
