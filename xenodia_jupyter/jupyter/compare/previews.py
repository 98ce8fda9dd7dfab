"""The compare view's pictures, made once and kept while they are likely to be
shown again (stepping back and forth through 2 to 4 results).

    previews = Previews()
    shot = previews.get(result, 640)        # .image (RGB, for the difference), .jpeg (to send)
    previews.difference(left, right, 640)   # (heat map JPEG, DifferenceStats), kept as well

Both caches are bounded (a few entries of at most LARGE_PX on a side), and
safe to use from the view's worker thread while the kernel clears them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .difference import DifferenceStats, heat_map, jpeg, open_preview

if TYPE_CHECKING:
    from PIL import Image

KEPT = 10  # previews: 4 results at two sizes, and a little room


@dataclass(frozen=True)
class Preview:
    image: Image.Image
    jpeg: bytes


def _key(result: Any) -> object:
    paths = getattr(result, "paths", None)
    return str(paths[0]) if paths else id(result)


def _source(result: Any) -> Any:
    """The local file (decoded at a reduced size), else the result's image."""
    paths = getattr(result, "paths", None)
    if paths and isinstance(paths[0], Path) and paths[0].is_file():
        return paths[0]
    return result.image


class Previews:
    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._previews: OrderedDict[tuple[object, int], Preview] = OrderedDict()
        self._differences: OrderedDict[tuple[object, object, int], tuple[bytes, DifferenceStats]] = OrderedDict()

    def get(self, result: Any, px: int) -> Preview:
        key = (_key(result), px)
        with self._lock:
            if key in self._previews:
                self._previews.move_to_end(key)
                return self._previews[key]
        image = open_preview(_source(result), px)
        made = Preview(image, jpeg(image))
        with self._lock:
            self._previews[key] = made
            while len(self._previews) > self._kept:
                self._previews.popitem(last=False)
        return made

    def difference(self, left: Any, right: Any, px: int) -> tuple[bytes, DifferenceStats]:
        """The heat map of two results' previews at `px`, as a JPEG, and its numbers."""
        key = (_key(left), _key(right), px)
        with self._lock:
            if key in self._differences:
                return self._differences[key]
        heat, stats = heat_map(self.get(left, px).image, self.get(right, px).image)
        made = (jpeg(heat), stats)
        with self._lock:
            self._differences[key] = made
            while len(self._differences) > self._kept:
                self._differences.popitem(last=False)
        return made

    def clear(self) -> None:
        with self._lock:
            self._previews.clear()
            self._differences.clear()
