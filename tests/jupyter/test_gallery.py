"""xj.gallery over results made over real HTTP against the emulator on loopback.

The gallery is built in this process, as a kernel would build it; the
browser's side is played by `gallery.view.receive(message)` (what a click or a
request from gallery.js sends) and by a recorder in place of `view.send`
(what the kernel answers: custom messages, each picture as a buffer).  A last
test runs a real kernel (nbclient) for the words a saved notebook shows.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ipywidgets import Widget
from nbkernel import KernelSession
from PIL import Image

from xenodia_jupyter import Client
from xenodia_jupyter.core.results import GenerationResult, ResultList
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.errors import InvalidRequestError
from xenodia_jupyter.jupyter.gallery.items import Query, search_text
from xenodia_jupyter.jupyter.gallery.widget import Gallery, gallery
from xenodia_jupyter.store.outputs import OutputStore
from xenodia_jupyter.store.preferences import record_choice

PROMPTS = [
    "A fox in ink wash, misty hills",
    "A lighthouse at dawn, watercolour",
    "Ink and wash: a heron standing still",
    "A red bicycle against a blue wall",
    "A LIGHTHOUSE at night, ink wash",
]


# Helpers -------------------------------------------------------------------------------------


class Browser:
    """What the front end receives: the kernel's custom messages and their buffers."""

    def __init__(self, g: Gallery) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []
        g.view.send = self._record  # type: ignore[method-assign]

    def _record(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.messages.append((content, [bytes(b) for b in buffers or []]))

    def of(self, event: str) -> list[tuple[dict[str, Any], list[bytes]]]:
        return [m for m in self.messages if m[0]["event"] == event]


def until(condition: Callable[[], object], timeout: float = 60.0) -> None:
    """Pictures are made on the gallery's thread pool: wait until they have come."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the pictures did not come in time")
        time.sleep(0.02)


def widget_state(g: Gallery) -> str:
    """The gallery's widget models as a saved notebook holds them (bytes shown by size)."""
    models: list[Widget] = [g, g.layout, g.view, g.view.layout, g.compare_box, g.compare_box.layout]
    return json.dumps([m.get_state() for m in models], default=lambda b: f"<{len(b)} bytes>")


def jpeg_size(data: bytes) -> tuple[int, int]:
    assert data[:2] == b"\xff\xd8", "a JPEG"
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# Fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "outputs"  # the folder conftest's XENODIA_OUTPUT_DIR points at


@pytest.fixture
def results(client: Client) -> ResultList[GenerationResult]:
    made = client.generate_many(PROMPTS, concurrency=5)
    assert all(isinstance(r, GenerationResult) for r in made)
    return made  # type: ignore[return-value]


@pytest.fixture
def make_gallery() -> Any:
    made: list[Gallery] = []

    def make(items: Any, **options: Any) -> Gallery:
        g = Gallery(items, **options)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


# Input: a ResultList, a list, a DataFrame, journal ids ----------------------------------------


def test_a_result_list_a_plain_list_and_a_dataframe_give_the_same_gallery(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery], out: Path
) -> None:
    ids = [r.journal_id for r in results]
    from_list = make_gallery(list(results))
    from_frame = make_gallery(results.to_pandas())
    from_ids = make_gallery(ids, output_dir=out)
    for g in (make_gallery(results), from_list, from_frame, from_ids):
        assert [r.journal_id for r in g.items] == ids
        assert [c["prompt"] for c in g.view.cards] == PROMPTS
    assert from_frame.items[0].paths == results[0].paths  # rebuilt from the journal, files and all
    assert from_frame.items[0] is not results[0]


def test_a_failed_item_is_left_out_and_a_frame_needs_journal_ids(
    emu: Emulator, client: Client, make_gallery: Callable[..., Gallery]
) -> None:
    emu.next_task("fail", error={"code": "content_policy", "message": "refused"})
    made = client.generate_many(["refused", "a kept one"], concurrency=1)
    assert sum(isinstance(r, GenerationResult) for r in made) == 1
    g = make_gallery(made)
    assert [r.prompt for r in g.items] == ["a kept one"]
    frame = made.to_pandas()
    assert len(frame) == 2 and frame["error"].notna().sum() == 1  # the failed row is in the table...
    assert [r.prompt for r in make_gallery(frame).items] == ["a kept one"]  # ...but not in the gallery
    with pytest.raises(ValueError, match="journal_id"):
        gallery(frame.drop(columns=["journal_id"]))
    with pytest.raises(InvalidRequestError, match="items: .*not int"):
        gallery([1, 2])


def test_a_frame_from_another_output_folder_finds_its_journal_beside_the_files(
    make_client: Callable[..., Client], tmp_path: Path, make_gallery: Callable[..., Gallery]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    made = make_client(output_dir=elsewhere).generate_many(["kept elsewhere"], concurrency=1)
    g = make_gallery(made.to_pandas())  # no output_dir: the default folder does not hold these
    assert [r.prompt for r in g.items] == ["kept elsewhere"]
    g.rate(0, 1)
    assert OutputStore(elsewhere).journal.entry(made[0].journal_id).rating == 1


# The search box ---------------------------------------------------------------------------------


def test_every_word_must_match_case_insensitively_and_a_quoted_phrase_as_a_phrase() -> None:
    text = search_text(GenerationResult(prompt="A LIGHTHOUSE at night, ink wash", urls=[], paths=[], aspect_ratio="16:9"))
    assert Query("lighthouse ink").matches(text)
    assert Query("ligh").matches(text)  # while typing
    assert Query('"ink wash"').matches(text)
    assert Query('"ink wa').matches(text) and not Query('"ink wh').matches(text)  # a phrase being typed
    assert Query("16:9").matches(text)
    assert not Query('"wash ink"').matches(text)
    assert not Query("lighthouse fox").matches(text)
    assert Query("").matches(text) and Query('""').matches(text)


def test_the_search_box_filters_the_cards_and_the_browser_can_type_in_it(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    g = make_gallery(results)
    g.query = '"ink wash"'
    assert g.matches == [0, 4]
    assert [c["i"] for c in g.view.cards] == [0, 4] and g.view.matched == 2 and g.view.total == 5
    assert g.view.query == '"ink wash"'
    g.view.query = "ink heron"  # typed in the browser
    assert g.query == "ink heron" and g.matches == [2]
    g.view.query = ""
    assert g.matches == [0, 1, 2, 3, 4]


# Selection ------------------------------------------------------------------------------------


def test_select_from_code_is_observed_and_selected_is_in_gallery_order(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    g = make_gallery(results)
    seen: list[list[int]] = []
    g.observe(lambda change: seen.append(change["new"]), "selection")
    g.select([3, 1, 3])
    assert g.selection == [1, 3] and seen == [[1, 3]]
    assert g.view.selection == [1, 3]  # the browser sees it
    assert isinstance(g.selected, ResultList)
    assert [r.prompt for r in g.selected] == [PROMPTS[1], PROMPTS[3]]
    with pytest.raises(IndexError, match="no index 5"):
        g.select([5])
    g.select([])
    assert g.selected == [] and seen[-1] == []


def test_a_selection_in_the_browser_becomes_a_dataframe(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    g = make_gallery(results)
    seen: list[list[int]] = []
    g.observe(lambda change: seen.append(change["new"]), "selection")
    g.view.selection = [4, 0, 99]  # a click and a shift-click (an index out of range is dropped)
    assert g.selection == [0, 4] and seen == [[0, 4]]
    frame = g.selected.to_pandas()
    assert list(frame["journal_id"]) == [results[0].journal_id, results[4].journal_id]
    assert list(frame["prompt"]) == [PROMPTS[0], PROMPTS[4]]


def test_select_all_takes_the_filtered_results_and_clear_empties(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    g = make_gallery(results)
    g.select([3])
    g.query = "lighthouse"
    g.view.receive({"event": "select_all"})
    assert g.selection == [1, 3, 4]
    g.view.receive({"event": "clear"})
    assert g.selection == []


# Pages -------------------------------------------------------------------------------------


def test_a_page_of_cards_at_a_time_and_more_draws_the_next(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    g = make_gallery(results, page_size=2)
    assert [c["i"] for c in g.view.cards] == [0, 1] and g.view.matched == 5
    g.view.receive({"event": "more"})
    g.view.receive({"event": "more"})
    assert [c["i"] for c in g.view.cards] == [0, 1, 2, 3, 4]
    g.query = "a"  # a new filter starts again at the first page
    assert len(g.view.cards) == 2


# Stars --------------------------------------------------------------------------------------


def test_star_and_reject_write_the_journal(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery], out: Path
) -> None:
    g = make_gallery(results)
    browser = Browser(g)
    g.view.receive({"event": "rate", "i": 1, "rating": 1})
    g.view.receive({"event": "rate", "i": 2, "rating": -1})
    journal = OutputStore(out).journal
    assert journal.entry(results[1].journal_id).rating == 1
    assert journal.entry(results[2].journal_id).rating == -1
    assert results[1].rating == 1  # the same object the user holds
    assert [c["rating"] for c in g.view.cards] == [0, 1, -1, 0, 0]
    assert [m[0] for m in browser.of("rated")][-1] == {"event": "rated", "i": 2, "rating": -1}
    g.view.receive({"event": "rate", "i": 1, "rating": 0})
    assert journal.entry(results[1].journal_id).rating == 0
    assert g.summary() == "Gallery of 5 results; run the cell to browse"


def test_rating_a_result_the_journal_does_not_know_says_so_in_the_gallery(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    stranger = dataclasses.replace(results[0], journal_id="0" * 32)
    g = make_gallery([stranger])
    g.view.receive({"event": "rate", "i": 0, "rating": 1})
    assert "not in the journal" in g.view.note
    assert stranger.rating == 0


# Pictures, by message ------------------------------------------------------------------------


def test_thumbnails_are_answered_by_message_with_the_jpeg_as_buffer(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    gone = dataclasses.replace(results[3], paths=[results[3].paths[0].with_name("gone.png")])
    g = make_gallery([*results[:3], gone])
    browser = Browser(g)
    g.view.receive({"event": "thumbs", "items": [0, 2, 3, 17]})  # 17: a stale request, ignored
    until(lambda: len(browser.of("thumb")) == 3)
    answers = {m[0]["i"]: m for m in browser.of("thumb")}
    assert sorted(answers) == [0, 2, 3]
    assert max(jpeg_size(answers[0][1][0])) == 256
    assert answers[2][0]["missing"] is False
    assert answers[3][0] == {"event": "thumb", "i": 3, "missing": True} and answers[3][1] == []
    assert "\\xff\\xd8" not in widget_state(g) and "/9j/" not in widget_state(g)  # no JPEG in the state


def test_the_lightbox_gets_the_whole_prompt_its_facts_and_a_screen_sized_picture(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    g = make_gallery(results)
    browser = Browser(g)
    g.query = "lighthouse"
    g.view.receive({"event": "open", "i": 4})
    until(lambda: browser.of("preview"))
    detail = browser.of("detail")[-1][0]
    assert detail["prompt"] == PROMPTS[4] and detail["position"] == "2 of 2" and detail["i"] == 4
    assert ["task id", results[4].task_id] in detail["facts"]
    preview = browser.of("preview")[-1]
    assert preview[0]["token"] == detail["token"]
    assert max(jpeg_size(preview[1][0])) == 1024  # the emulator's 1K image, not more
    g.view.receive({"event": "step", "i": 4, "by": 1})  # → past the last: back to the first match
    assert browser.of("detail")[-1][0]["i"] == 1
    g.view.receive({"event": "step", "i": 1, "by": -1})
    assert browser.of("detail")[-1][0]["i"] == 4


# Lineage ---------------------------------------------------------------------------------------


def test_a_remix_names_its_parent_and_remix_of_leads_to_it(
    client: Client, results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    child = client.remix(results[1], prompt="The same lighthouse in snow")
    assert child.parent == results[1].journal_id
    g = make_gallery([*results, child], page_size=2)
    browser = Browser(g)
    g.query = "snow"
    card = g.view.cards[0]
    assert card["parent"] == results[1].journal_id and card["parent_index"] == 1
    assert card["parent_prompt"].startswith("A lighthouse at dawn")
    # The parent is filtered out: "remix of …" opens it in the lightbox.
    g.view.receive({"event": "lineage", "parent": child.parent, "where": "card"})
    assert browser.of("detail")[-1][0]["i"] == 1
    # Shown in the gallery (on a later page): its page is drawn and the card revealed.
    g.query = ""
    g.view.receive({"event": "lineage", "parent": child.parent, "where": "card"})
    assert browser.of("reveal")[-1][0] == {"event": "reveal", "i": 1}
    # Not in the gallery at all: read from the journal.
    alone = make_gallery([child])
    assert alone.view.cards[0]["parent_index"] == -1
    assert alone.view.cards[0]["parent_prompt"].startswith("A lighthouse at dawn")
    lone = Browser(alone)
    alone.view.receive({"event": "lineage", "parent": child.parent, "where": "card"})
    shown = lone.of("detail")[-1][0]
    assert shown["i"] == -1 and shown["prompt"] == PROMPTS[1] and shown["position"] == "not in this gallery"


# Order -----------------------------------------------------------------------------------------


def test_newest_and_score_orders_keep_the_selection_on_the_same_results(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery], out: Path
) -> None:
    journal = OutputStore(out).journal
    record_choice(journal, results[2].journal_id, results[0].journal_id, "left")
    record_choice(journal, results[2].journal_id, results[4].journal_id, "left")
    g = make_gallery(results)
    g.select([2, 4])
    chosen = [r.journal_id for r in g.selected]
    g.order = "score"
    assert g.items[0] is results[2] and g.items[-1] in (results[0], results[4])
    assert sorted(r.journal_id for r in g.selected) == sorted(chosen)
    g.order = "newest"
    assert [r.created_at for r in g.items] == sorted((r.created_at for r in results), reverse=True)
    assert sorted(r.journal_id for r in g.selected) == sorted(chosen)
    assert g.view.order == "newest" and "score" in g.view.orders
    with pytest.raises(Exception, match="order must be one of"):
        g.order = "random"


# A thousand results, a small notebook ------------------------------------------------------------


def test_a_thousand_result_gallery_keeps_its_widget_state_under_300_kb_without_pictures(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    long = " with a long, detailed description of the light, the weather and the mood" * 4
    many = [
        dataclasses.replace(results[n % len(results)], prompt=f"{n}: {results[n % len(results)].prompt}{long}")
        for n in range(1000)
    ]
    g = make_gallery(many)
    first = widget_state(g)
    assert len(first) < 60_000, len(first)  # one page of cards
    while len(g.view.cards) < 1000:  # scrolled all the way down
        g.more()
    every = widget_state(g)
    assert len(every) < 300_000, len(every)
    for state in (first, every):
        assert "data:image" not in state and "/9j/" not in state and "bytes>" not in state


# A real kernel ---------------------------------------------------------------------------------


def test_in_a_kernel_the_gallery_shows_words_for_a_notebook_read_without_one(
    emu: Emulator, client: Client, tmp_path: Path, out: Path
) -> None:
    client.generate_many(PROMPTS[:3], concurrency=3)
    env = {"XENODIA_OUTPUT_DIR": str(out), "XENODIA_BASE_URL": emu.base_url, "XENODIA_API_KEY": emu.api_key}
    with KernelSession(tmp_path, env) as kernel:
        cell = kernel.run(
            "import xenodia_jupyter as xj\n"
            "g = xj.gallery(xj.history())\n"
            "g"
        )
        data = cell.outputs[-1]["data"]
        assert data["text/plain"] == "Gallery of 3 results; run the cell to browse"
        assert "Gallery of 3 results" in data["text/html"]
        assert "application/vnd.jupyter.widget-view+json" in data
        cell = kernel.run("g.select([0, 2]); print(len(g.selected.to_pandas()))")
        assert cell.outputs[-1]["text"].strip() == "2"


# Compare ---------------------------------------------------------------------------------------


def test_compare_shows_two_to_four_selected_results_below_the_cards(
    results: ResultList[GenerationResult], make_gallery: Callable[..., Gallery]
) -> None:
    from xenodia_jupyter.jupyter.compare.view import CompareView

    g = make_gallery(results)
    assert g.view.can_compare
    g.select([1])
    g.view.receive({"event": "compare"})
    assert "select 2 to 4 results to compare, not 1" in g.view.note and g.compare_box.children == ()
    g.select([1, 3])
    g.view.receive({"event": "compare"})
    assert g.view.note == ""
    close, shown = g.compare_box.children
    assert isinstance(shown, CompareView) and shown.titles == [PROMPTS[1], PROMPTS[3]]
    close.click()
    assert g.compare_box.children == () and shown.comm is None
