"""The panel's parts on their own: the list that keeps a box's children in
step with it, and the aspect-ratio/resolution choices."""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets

from xenodia_jupyter.jupyter.panel.choices import Choices
from xenodia_jupyter.jupyter.panel.widget_list import WidgetList
from xenodia_jupyter.wire.rules import ModelInfo


class Part:
    def __init__(self, name: str) -> None:
        self.name = name
        self.box = widgets.HTML(name)
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.box.close()


def names(box: Any) -> list[str]:
    return [child.value for child in box.children]


# WidgetList -----------------------------------------------------------------------------------


def test_the_list_and_the_box_change_together() -> None:
    box = widgets.VBox()
    parts: WidgetList[Part] = WidgetList(box)
    a, b, c = Part("a"), Part("b"), Part("c")
    for part in (a, b, c):
        parts.append(part)
    assert list(parts) == [a, b, c] and names(box) == ["a", "b", "c"]
    assert parts.discard(b) is True
    assert list(parts) == [a, c] and names(box) == ["a", "c"]
    assert b.closed and b.box.comm is None  # its widgets are closed with it
    assert parts.discard(b) is False  # a second discard is a no-op
    assert (len(parts), parts[0], parts[-1], b in parts) == (2, a, c, False)


def test_newest_first_shows_the_newest_part_first_and_keeps_the_list_in_order() -> None:
    box = widgets.HBox()
    parts: WidgetList[Part] = WidgetList(box, newest_first=True)
    for name in "abc":
        parts.append(Part(name))
    assert [p.name for p in parts] == ["a", "b", "c"]
    assert names(box) == ["c", "b", "a"]


def test_insert_oldest_puts_a_part_at_the_old_end_of_both() -> None:
    box = widgets.HBox()
    parts: WidgetList[Part] = WidgetList(box, newest_first=True)
    for name in "bc":
        parts.append(Part(name))
    parts.insert_oldest(Part("a"))  # loaded from the history after b and c were shown
    assert [p.name for p in parts] == ["a", "b", "c"]
    assert names(box) == ["c", "b", "a"]


def test_clear_empties_both_and_closes_every_part() -> None:
    box = widgets.VBox()
    parts: WidgetList[Part] = WidgetList(box)
    made = [Part(str(i)) for i in range(3)]
    for part in made:
        parts.append(part)
    parts.clear()
    assert (len(parts), box.children) == (0, ())
    assert all(part.closed for part in made)


def test_changes_from_many_threads_keep_the_list_and_the_box_in_step() -> None:
    box = widgets.VBox()
    parts: WidgetList[Part] = WidgetList(box, threading.RLock())
    made = [[Part(f"{t}-{i}") for i in range(40)] for t in range(6)]

    def churn(mine: list[Part]) -> None:
        for part in mine:
            parts.append(part)
        for part in mine[::2]:
            parts.discard(part)

    threads = [threading.Thread(target=churn, args=(mine,)) for mine in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = {part.name for mine in made for part in mine[1::2]}
    assert {part.name for part in parts} == kept
    assert [part.box for part in parts] == list(box.children)


# Choices ----------------------------------------------------------------------------------------


def test_choices_start_from_valid_settings_and_ignore_unknown_ones() -> None:
    changes: list[str] = []
    choices = Choices(aspect_ratio="16:9", resolution="4K", on_change=lambda: changes.append("x"), say=print)
    assert (choices.aspect_ratio.value, choices.resolution.value) == ("16:9", "4K")
    assert changes == []  # nothing is reported while it is built
    odd = Choices(aspect_ratio="7:5", resolution="8K", on_change=lambda: None, say=print)
    assert (odd.aspect_ratio.value, odd.resolution.value) == ("1:1", "1K")


def test_discovery_can_narrow_the_choices_and_the_pick_follows() -> None:
    changes: list[str] = []
    choices = Choices(aspect_ratio="4:3", resolution="2K", on_change=lambda: changes.append("x"), say=print)
    choices.apply(ModelInfo(aspect_ratios=("1:1", "16:9"), resolutions=("1K", "2K"), from_discovery=True))
    assert choices.aspect_ratio.options == ("1:1", "16:9")
    assert (choices.aspect_ratio.value, choices.resolution.value) == ("1:1", "2K")
    assert choices.resolution.options == ("1K", "2K")
    assert changes  # the panel redraws its price
