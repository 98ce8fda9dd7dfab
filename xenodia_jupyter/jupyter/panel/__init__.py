"""The panel (`xj.panel()`, `%xenodia panel`): the studio widget and its parts
(reference picker and drop zone, choices, run rows, cards, gallery, lightbox,
compare, sweep form and grid).  anywidget's JavaScript and CSS live in `static/`.
"""

from .studio import Panel

__all__ = ["Panel"]
