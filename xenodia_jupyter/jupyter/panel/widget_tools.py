"""Small helpers for the panel's widgets: tag, show, close a widget tree, make
a button, and read an anywidget's JavaScript or CSS from `static/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets

STATIC = Path(__file__).with_name("static")


def close_tree(widget: Any) -> None:
    """Close a widget, everything inside it, and its layout and style models, so
    nothing is left behind in the kernel or the notebook's widget state."""
    for child in getattr(widget, "children", ()) or ():
        close_tree(child)
    for part in ("layout", "style"):
        sub = getattr(widget, part, None)
        if isinstance(sub, widgets.Widget):
            sub.close()
    widget.close()


def show(widget: Any, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def tagged(widget: Any, css: str) -> Any:
    """`widget` with the CSS class `css` (the browser tests find widgets by them)."""
    widget.add_class(css)
    return widget


def button(description: str, css: str, *, tooltip: str = "", icon: str = "", width: str | None = None) -> Any:
    return tagged(
        widgets.Button(
            description=description, tooltip=tooltip or description, icon=icon, layout=widgets.Layout(width=width)
        ),
        css,
    )


def static_text(name: str, **values: object) -> str:
    """The file `static/<name>`, each word given in `values` replaced by its value
    (such as `CHUNK_BYTES=4194304`).  The text is used as it is: it is widget state."""
    text = (STATIC / name).read_text(encoding="utf-8")
    for word, value in values.items():
        if word not in text:
            raise LookupError(f"static/{name} has no {word} to fill in")
        text = text.replace(word, str(value))
    return text
