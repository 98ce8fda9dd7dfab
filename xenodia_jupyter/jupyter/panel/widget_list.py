"""A list of panel parts and the box that shows them, kept in step.

    chips = WidgetList(strip, lock)            # strip: an HBox; each part has .box and .close()
    chips.append(chip)                          # the list and strip.children change together
    chips.discard(chip)                         # ... and the chip's widgets are closed
    chips.insert_oldest(chip)                   # as the oldest part (history loaded later)

Jobs on the engine thread and clicks on the kernel's thread change these
lists at the same time; every change happens under one lock (the panel's,
so that a change spanning several lists can hold it too).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypeVar, overload


class Part(Protocol):
    """A piece of the panel: the widget that shows it, and how to close it."""

    @property
    def box(self) -> Any: ...

    def close(self) -> None: ...


P = TypeVar("P", bound=Part)


class WidgetList(Sequence[P]):
    """A read-only sequence of parts, oldest first, changed only through
    `append`, `discard` and `clear`.  `newest_first` shows the newest part
    first in the box (the gallery, the run rows)."""

    def __init__(self, box: Any, lock: threading.RLock | None = None, *, newest_first: bool = False) -> None:
        self.box = box
        self.lock = lock if lock is not None else threading.RLock()
        self._newest_first = newest_first
        self._items: list[P] = []

    def append(self, item: P) -> None:
        with self.lock:
            self._items.append(item)
            children = list(self.box.children)
            self.box.children = [item.box, *children] if self._newest_first else [*children, item.box]

    def insert_oldest(self, item: P) -> None:
        """Add `item` as the oldest part (history loaded after newer parts)."""
        with self.lock:
            self._items.insert(0, item)
            children = list(self.box.children)
            self.box.children = [*children, item.box] if self._newest_first else [item.box, *children]

    def discard(self, item: P) -> bool:
        """Take `item` out and close its widgets; False when it was not here."""
        with self.lock:
            if item not in self._items:
                return False
            self._items.remove(item)
            self.box.children = [child for child in self.box.children if child is not item.box]
        item.close()
        return True

    def clear(self) -> None:
        """Take every part out and close their widgets."""
        with self.lock:
            items, self._items = self._items, []
            self.box.children = []
        for item in items:
            item.close()

    @overload
    def __getitem__(self, index: int) -> P: ...

    @overload
    def __getitem__(self, index: slice) -> list[P]: ...

    def __getitem__(self, index: int | slice) -> P | list[P]:
        with self.lock:
            return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[P]:
        with self.lock:
            return iter(list(self._items))  # a snapshot: safe while another thread changes the list

    def __repr__(self) -> str:
        return f"WidgetList({self._items!r})"
