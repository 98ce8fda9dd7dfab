"""The panel and the library, against the emulator: the search box over the
journal, Remix from a card and the lightbox, a dropped PNG of ours offered as
a recipe, and "remix of …" on cards."""

# The panel tests' fixtures are imported by name: pytest finds them here, and ruff
# would call each test's parameter a redefinition of the import.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
from collections.abc import Callable

from test_panel import KEY, emu, generated, make_aclient, make_panel, ns, png, until  # noqa: F401

from xenodia_jupyter import AsyncClient
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.jupyter import engine
from xenodia_jupyter.jupyter.panel.studio import Panel


def _shown_prompts(panel: Panel) -> set[str]:
    return {c.result.prompt for c in panel.cards if c.box.layout.display != "none"}


def test_the_search_box_finds_the_librarys_matches_and_narrows_the_cards(
    make_panel: Callable[..., Panel], make_aclient: Callable[..., AsyncClient]
) -> None:
    client = make_aclient()
    for prompt in ("a lighthouse at dusk", "a lighthouse in fog", "an ink wash fox"):
        engine.run_blocking(client.generate(prompt))
    panel = make_panel(client=client)
    generated(panel, "a fox made in the panel")
    view = panel.results_view
    view.search_box.value = "fox"  # what Enter in the box does
    until(lambda: _shown_prompts(panel) == {"an ink wash fox", "a fox made in the panel"})
    assert len(panel.cards) == 2  # the fox from the library joined; no lighthouse was loaded
    assert view.history_button.disabled and view.history_button.description == "Search"  # nothing older matches
    view.search_box.value = '"lighthouse in"'
    until(lambda: _shown_prompts(panel) == {"a lighthouse in fog"})
    view.search_box.value = ""
    until(lambda: len(_shown_prompts(panel)) == 4)


def test_the_search_follows_the_starred_filter(
    make_panel: Callable[..., Panel], make_aclient: Callable[..., AsyncClient]
) -> None:
    client = make_aclient()
    kept = engine.run_blocking(client.generate("a starred lighthouse"))
    engine.run_blocking(client.generate("a plain lighthouse"))
    client.store.journal.rate(kept.journal_id, 1)
    panel = make_panel(client=client)
    view = panel.results_view
    view.filter.value = "starred"
    view.search_box.value = "lighthouse"
    until(lambda: [c.result.prompt for c in panel.cards] == ["a starred lighthouse"])


def test_remix_from_a_card_fills_the_form_and_generate_records_the_parent(
    make_panel: Callable[..., Panel], emu: Emulator
) -> None:
    panel = make_panel()
    reference = png("red")
    panel.add_reference(reference, "red.png")
    panel.aspect_ratio.value = "16:9"
    generated(panel, "a red lighthouse")
    source = panel.last
    assert source is not None
    panel.clear()
    generated(panel, "another", 1)
    card = panel.cards[-1]
    panel.results_view.open_lightbox(card)
    panel.remixing.load(source)
    assert panel.prompt.value == "a red lighthouse" and panel.aspect_ratio.value == "16:9"
    assert [c.label for c in panel.picker.chips] == ["recipe reference 1"]
    assert "Remixing" in panel.remixing.note.value and panel.remixing.parent == source.journal_id
    assert panel.remixing.note_row.layout.display != "none"
    assert panel.remixing.question_row.layout.display == "none"  # nothing was dropped
    panel.prompt.value = "a blue lighthouse"
    panel.generate_button.click()
    until(lambda: len(panel.results) == 2)
    child = panel.last
    assert child is not None and child.parent == source.journal_id
    assert emu.last_generation["files"][0]["sha256"] == hashlib.sha256(reference).hexdigest()
    child_card = next(c for c in panel.cards if c.result is child)
    assert "remix of a red lighthouse" in child_card.image.caption
    assert child_card.parent_prompt == "a red lighthouse"
    # "remix of …" opens the parent, loaded from the journal (its card was cleared)
    child_card.image.act("parent")
    assert panel.results_view.lightbox.card is not None
    assert panel.results_view.lightbox.card.result.journal_id == source.journal_id
    # the lightbox's own Remix button, and forgetting
    panel.results_view.lightbox.remix_button.click()
    assert panel.prompt.value == "a red lighthouse"
    panel.remixing.forget_button.click()
    assert panel.remixing.parent is None


def test_the_card_remix_button_is_what_a_click_does(make_panel: Callable[..., Panel]) -> None:
    panel = make_panel()
    generated(panel, "a first picture")
    panel.cards[-1].remix_button.click()
    assert panel.remixing.parent == panel.last.journal_id  # type: ignore[union-attr]
    assert panel.prompt.value == "a first picture"


def test_a_dropped_png_of_ours_asks_reference_or_recipe(make_panel: Callable[..., Panel], emu: Emulator) -> None:
    panel = make_panel()
    generated(panel, "a dropped lighthouse")
    made = panel.last
    assert made is not None
    data = made.path.read_bytes()
    panel.dropzone.receive(("lighthouse.png", data))
    assert panel.remixing.question_row.layout.display != "none"
    assert "lighthouse.png" in panel.remixing.question.value and len(panel.picker.chips) == 0
    panel.remixing.as_recipe_button.click()
    assert panel.prompt.value == "a dropped lighthouse" and panel.remixing.parent == made.journal_id
    panel.dropzone.receive(("lighthouse.png", data))
    panel.remixing.as_reference_button.click()
    until(lambda: len(panel.picker.chips) == 1)
    plain = png("blue")
    panel.dropzone.receive(("plain.png", plain))  # not ours: a reference at once, nothing asked
    until(lambda: len(panel.picker.chips) == 2)
    assert panel.remixing.question_row.layout.display == "none"
