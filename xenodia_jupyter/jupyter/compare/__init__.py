"""Comparing results: `CompareView` (view.py), an anywidget for two at a time
(side by side, swipe, flip, difference; zoom and pan together), and its
Pillow work (difference.py, previews.py).  Its JavaScript and CSS are in static/."""

from .view import CompareView

__all__ = ["CompareView"]
