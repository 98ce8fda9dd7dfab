"""The panel against the emulator on loopback.

Most tests build the panel in this process, the way a kernel would (its jobs
run on the kernel's engine thread), with the user's namespace given as a
dict: building it, the option rules, uploads set the way ipywidgets' own
tests set them, picking a namespace image, Generate through
`generate_button.click()`, the gallery, errors shown inside the panel,
cancel, and closing.  A few end-to-end tests at the end run in a real kernel
(nbclient): the magic, the kernel staying free, widget state, the budget.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ipywidgets import VBox, Widget
from ipywidgets.widgets.widget import _instances
from nbkernel import KernelSession, error_output, text
from PIL import Image

from xenodia_jupyter import AsyncClient
from xenodia_jupyter.core.results import GenerationResult
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.jupyter import engine, markup
from xenodia_jupyter.jupyter.compare.difference import VIEW_PX as COMPARE_VIEW_PX
from xenodia_jupyter.jupyter.panel.gallery import HISTORY_PAGE
from xenodia_jupyter.jupyter.panel.studio import Panel
from xenodia_jupyter.jupyter.settings import XenodiaSettings

KEY = "panel-test-secret-key-93c1e2"


# Helpers -------------------------------------------------------------------------------


def until(condition: Callable[[], object], timeout: float = 60.0) -> None:
    """Wait for background jobs (on the engine thread) to get somewhere."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def png(color: Any = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def upload(panel: Panel, *files: tuple[str, str, bytes]) -> None:
    """What the browser sends when files are chosen (as in ipywidgets' test_widget_upload)."""
    panel.upload.set_state(
        {
            "value": [
                {"name": name, "type": kind, "size": len(data), "last_modified": 1578578296434, "content": memoryview(data)}
                for name, kind, data in files
            ]
        }
    )


def all_state() -> str:
    """Every widget's state as the notebook would save it (bytes shown by size)."""
    return json.dumps([w.get_state() for w in list(_instances.values())], default=lambda b: f"<{len(b)} bytes>")


def chip_labels(panel: Panel) -> list[str]:
    return [chip.label for chip in panel.picker.chips]


# Fixtures ------------------------------------------------------------------------------


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(latency=0.3, poll_interval_ms=30, api_key=KEY)


@pytest.fixture
def make_aclient(emu: Emulator, tmp_path: Path) -> Iterator[Callable[..., AsyncClient]]:
    made: list[AsyncClient] = []

    def make(**options: Any) -> AsyncClient:
        options.setdefault("api_key", KEY)
        options.setdefault("base_url", emu.base_url)
        options.setdefault("output_dir", tmp_path / "out")
        made.append(AsyncClient(**options))
        return made[-1]

    yield make
    for client in made:
        engine.run_blocking(client.aclose())


@pytest.fixture
def ns() -> dict[str, Any]:
    return {}


@pytest.fixture
def make_panel(make_aclient: Callable[..., AsyncClient], ns: dict[str, Any]) -> Iterator[Callable[..., Panel]]:
    """Panels built in this process with the default engine spawn; closed after the test."""
    made: list[Panel] = []

    def make(**options: Any) -> Panel:
        if "client" not in options and "budget_usd" not in options:
            options["client"] = make_aclient()
        options.setdefault("namespace", lambda: ns)
        options.setdefault("settings", XenodiaSettings())
        made.append(Panel(**options))
        return made[-1]

    yield make
    for panel in made:
        pending = list(panel._background)
        panel.close()
        for job in pending:  # cancelled jobs journal before their client is closed
            job.wait(30)


@pytest.fixture
def panel(make_panel: Callable[..., Panel]) -> Panel:
    return make_panel()


def generated(panel: Panel, prompt: str, count: int = 1) -> None:
    panel.prompt.value = prompt
    panel.generate_button.click()
    until(lambda: len(panel.results) == count)


# Building ---------------------------------------------------------------------------


def test_panel_is_a_widget_with_the_documented_attributes(panel: Panel) -> None:
    assert isinstance(panel, VBox)
    kinds = [type(w).__name__ for w in (panel.prompt, panel.aspect_ratio, panel.resolution, panel.generate_button)]
    assert kinds == ["Textarea", "Dropdown", "Dropdown", "Button"]
    assert type(panel.upload).__name__ == "FileUpload"
    assert (panel.results, panel.last, len(panel.jobs), panel.references) == ([], None, 0, [])
    assert "for the next click" in panel.price.value
    assert panel.message.value == ""
    assert panel.client.base_url.startswith("http://127.0.0.1")


def test_choices_start_from_the_documented_defaults_and_are_refined_by_discovery(panel: Panel, emu: Emulator) -> None:
    assert panel.aspect_ratio.options == ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
    until(lambda: panel.choices.info.from_discovery)
    assert emu.stats.model_requests == 1
    assert "$0.07" in panel.price.value
    assert "spent this session" in panel.price.value


def test_auto_aspect_ratio_leaves_only_1K_and_says_why(panel: Panel) -> None:
    panel.resolution.value = "2K"
    panel.aspect_ratio.value = "auto"
    assert (panel.resolution.options, panel.resolution.value) == (("1K",), "1K")
    assert "only 1K" in panel.choices.rule_note.value
    panel.aspect_ratio.value = "16:9"
    assert panel.resolution.options == ("1K", "2K", "4K")
    assert panel.choices.rule_note.value == ""


def test_1_1_removes_4K_and_keeps_the_nearest_resolution(panel: Panel) -> None:
    panel.aspect_ratio.value = "16:9"
    panel.resolution.value = "4K"
    panel.aspect_ratio.value = "1:1"
    assert (panel.resolution.options, panel.resolution.value) == (("1K", "2K"), "2K")
    assert "4K" in panel.choices.rule_note.value


def test_the_rule_is_a_tooltip_until_it_changes_a_choice(panel: Panel) -> None:
    """At 1:1 and 1K nothing was taken from the user: no note that reads like an
    error, the reason waits on the Resolution dropdown's tooltip."""
    assert (panel.aspect_ratio.value, panel.resolution.value) == ("1:1", "1K")
    assert panel.choices.rule_note.value == ""
    assert "1:1 cannot be combined with 4K" in panel.resolution.tooltip


def test_the_settings_give_the_defaults(make_panel: Callable[..., Panel], tmp_path: Path) -> None:
    settings = XenodiaSettings(aspect_ratio="auto", resolution="4K", timeout=42.0)
    panel = make_panel(settings=settings)
    assert panel.timeout == 42.0
    assert (panel.aspect_ratio.value, panel.resolution.value) == ("auto", "1K")  # 4K is not allowed with auto
    assert make_panel(settings=settings, timeout=5.0).timeout == 5.0  # an explicit value wins


def test_without_a_client_the_panel_uses_the_kernels_client_for_the_settings_folder(
    make_panel: Callable[..., Panel], emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XENODIA_API_KEY", KEY)
    monkeypatch.setenv("XENODIA_BASE_URL", emu.base_url)
    folder = tmp_path / "from-settings"
    panel = make_panel(client=None, settings=XenodiaSettings(output_dir=str(folder)))
    assert panel.client is engine.kernel_client(output_dir=str(folder))
    assert Path(panel.client.store.root) == folder


def test_the_price_line_shows_the_budget_of_the_panels_own_client(make_panel: Callable[..., Panel]) -> None:
    panel = make_panel(budget_usd=1.0)
    assert "of a $1.00 budget" in panel.price.value
    assert panel.client.budget_usd == 1.0


# References -----------------------------------------------------------------------------


def test_uploads_are_checked_on_arrival_and_not_kept_in_widget_state(panel: Panel) -> None:
    gif = b"GIF89a" + b"\x00" * 40
    huge = png()[:16] + bytes(31 * 2**20)
    upload(
        panel,
        ("good.png", "image/png", png()),
        ("fake.png", "image/png", gif),
        ("empty.jpg", "image/jpeg", b""),
        ("huge.png", "image/png", huge),
    )
    assert chip_labels(panel) == ["good.png"]
    said = panel.message.value
    assert "fake.png: it is a GIF" in said
    assert "empty.jpg: it is empty" in said
    assert "huge.png: it is 32,505,872 bytes; at most 31,457,280" in said
    assert "1 / 16" in panel.picker.ref_count.value
    assert panel.upload.value == ()  # the bytes left the widget's state
    chip = panel.picker.chips[0]
    until(lambda: len(chip.picture.value) > 0)
    assert len(chip.picture.value) < 5000  # a small thumbnail


def test_a_transparent_upload_shows_white_like_the_preview_of_a_result(panel: Panel, tmp_path: Path) -> None:
    image = Image.new("RGBA", (80, 40), (0, 0, 0, 0))
    path = tmp_path / "clear.png"
    image.save(path)
    upload(panel, ("clear.png", "image/png", path.read_bytes()))
    chip = panel.picker.chips[0]
    until(lambda: len(chip.picture.value) > 0)
    preview = GenerationResult(prompt="clear", urls=[], paths=[path]).thumbnail(0, 64)
    assert chip.picture.value == preview
    corner = Image.open(io.BytesIO(chip.picture.value)).convert("RGB").getpixel((3, 3))
    assert all(channel >= 245 for channel in corner)  # white, not black


def test_several_files_at_once_up_to_the_limit_of_16(panel: Panel) -> None:
    upload(panel, *[(f"r{i}.png", "image/png", png((i * 12, 0, 0))) for i in range(17)])
    assert len(panel.picker.chips) == 16
    assert "16 / 16" in panel.picker.ref_count.value
    assert "r16.png: at most 16" in panel.message.value


def test_a_reference_chip_is_removed_with_its_widgets(panel: Panel) -> None:
    upload(panel, ("a.png", "image/png", png()), ("b.png", "image/png", png("blue")))
    before = len(_instances)
    chip = panel.picker.chips[0]
    chip.remove_button.click()
    assert chip_labels(panel) == ["b.png"]
    assert chip.box.comm is None and chip.picture.comm is None
    assert len(_instances) < before
    assert list(panel.picker.strip.children) == [panel.picker.chips[0].box]
    assert "1 / 16" in panel.picker.ref_count.value


def test_the_namespace_picker_lists_images_arrays_and_results_and_is_refreshable(
    panel: Panel, ns: dict[str, Any]
) -> None:
    ns.update(pic=Image.new("RGB", (40, 30), "green"), arr=np.zeros((20, 24, 3), np.uint8), word="no")
    panel.picker.namespace_refresh.click()
    names = [name for _label, name in panel.picker.namespace_picker.options]
    assert names == ["arr", "pic"]
    assert panel.picker.namespace_picker.value is not None  # something is always picked
    del ns["pic"]
    panel.picker.namespace_refresh.click()
    assert [name for _label, name in panel.picker.namespace_picker.options] == ["arr"]
    panel.picker.namespace_picker.value = "arr"
    panel.picker.namespace_add.click()
    until(lambda: len(panel.picker.chips[0].picture.value) > 0)
    assert [(c.kind, c.label) for c in panel.picker.chips] == [("namespace", "arr")]
    ns["arr"][:] = 255  # later edits do not change what was picked
    assert int(panel.references[0].max()) == 0


def test_a_namespace_object_that_cannot_be_a_reference_is_refused_with_the_reason(panel: Panel) -> None:
    panel.add_reference(np.zeros((0, 0, 3), np.uint8), "empty_array")
    until(lambda: not panel.picker.chips)
    assert "empty_array:" in panel.message.value
    assert "0 / 16" in panel.picker.ref_count.value


def test_bytes_that_are_not_an_image_are_refused_from_python_too(panel: Panel) -> None:
    panel.add_reference(b"GIF89a" + b"\x00" * 40, "old.gif")
    assert not panel.picker.chips
    assert "old.gif: it is a GIF" in panel.message.value


def test_urls_are_checked_and_listed(panel: Panel) -> None:
    panel.picker.url.value = "ftp://example.com/a.png"
    panel.picker.url_add.click()
    assert len(panel.picker.chips) == 0
    assert "ftp" in panel.message.value
    panel.picker.url.value = "https://example.com/a.png"
    panel.picker.url_add.click()
    assert [(c.kind, c.label) for c in panel.picker.chips] == [("url", "https://example.com/a.png")]
    assert panel.picker.url.value == ""
    assert panel.references == ["https://example.com/a.png"]


# Generating --------------------------------------------------------------------------------


def test_generate_runs_in_the_background_and_lists_the_result(panel: Panel, emu: Emulator) -> None:
    panel.prompt.value = "A red bicycle"
    panel.aspect_ratio.value, panel.resolution.value = "16:9", "2K"
    panel.generate_button.click()
    assert (len(panel.jobs), len(panel.results)) == (1, 0)  # the click returned; the job runs on
    job = panel.jobs[0]
    assert job.box is panel.jobs.box.children[0]
    until(lambda: len(panel.results) == 1)
    assert panel.last is panel.results[-1]
    assert (panel.last.prompt, panel.last.aspect_ratio, panel.last.resolution) == ("A red bicycle", "16:9", "2K")
    assert panel.last.image.size == (2048, 1152)
    assert len(panel.jobs) == 0 and job.box.comm is None  # the finished job's row is gone
    card = panel.cards[0]
    assert card.box is panel.gallery.children[0]
    assert card.image.title == "A red bicycle"
    assert 0 < len(card.thumbnail) < 20_000  # a thumbnail, not the 2K PNG
    assert len(card.image.src) < 30_000
    assert "spent this session: $0.07" in panel.price.value
    assert emu.last_generation["fields"]["prompt"] == "A red bicycle"
    assert KEY not in all_state()


def test_several_jobs_run_at_once_each_with_its_own_progress(panel: Panel, emu: Emulator) -> None:
    emu.state.latency = 1.5
    for word in ("one", "two", "three"):
        panel.prompt.value = word
        panel.generate_button.click()
    assert len(panel.jobs) == 3
    assert len({id(job.progress) for job in panel.jobs}) == 3
    until(lambda: len(panel.results) == 3)
    assert emu.stats.max_in_flight >= 2
    # newest first in the gallery; results newest last
    assert [card.result for card in panel.cards] == panel.results
    assert list(panel.gallery.children) == [card.box for card in panel.cards][::-1]


def test_progress_is_shown_while_a_job_runs(panel: Panel, emu: Emulator) -> None:
    emu.state.latency = 1.5
    panel.prompt.value = "slowly"
    panel.generate_button.click()
    job = panel.jobs[0]
    until(lambda: job.progress.value > 0 or not job.running)
    assert job.progress.value > 0
    assert "%" in job.status.value and job.task_id is not None


def test_references_from_all_three_places_are_sent(panel: Panel, emu: Emulator, ns: dict[str, Any]) -> None:
    generated(panel, "first")
    upload(panel, ("logo.png", "image/png", png("navy")))
    ns["shot"] = np.full((16, 16, 3), 200, np.uint8)
    panel.picker.refresh_namespace()
    panel.picker.namespace_picker.value = "shot"
    panel.picker.namespace_add.click()
    panel.picker.url.value = panel.results[0].urls[0]
    panel.picker.url_add.click()
    panel.cards[0].use_button.click()
    generated(panel, "second", count=2)
    sent = emu.last_generation
    assert sent["transport"] == "multipart"
    assert len(sent["files"]) == 4
    assert sent["files"][0]["filename"] == "logo.png"
    assert {f["mime_sniffed"] for f in sent["files"]} == {"image/png"}


def test_gallery_actions_use_as_reference_to_variable_and_save_as(
    panel: Panel, ns: dict[str, Any], tmp_path: Path
) -> None:
    generated(panel, "A lighthouse")
    card = panel.cards[0]
    card.use_button.click()
    assert [(c.kind, c.count) for c in panel.picker.chips] == [("result", 1)]
    card.var_button.click()
    card.field.value = "hero"
    card.ok_button.click()
    assert ns["hero"] is panel.last
    assert "bound to hero" in card.note.value
    card.var_button.click()
    card.field.value = "not a name"
    card.ok_button.click()
    assert "not a valid Python name" in card.note.value
    target = tmp_path / "copies" / "lighthouse.png"
    card.save_button.click()
    card.field.value = str(target)
    card.ok_button.click()
    assert target.read_bytes() == panel.last.path.read_bytes()
    assert "saved to" in card.note.value


# Errors, shown inside the panel -------------------------------------------------------------------


def test_an_empty_prompt_is_refused_before_anything_is_sent(panel: Panel, emu: Emulator) -> None:
    panel.prompt.value = "   "
    panel.generate_button.click()
    assert "Write a prompt first" in panel.message.value
    assert len(panel.jobs) == 0
    assert emu.stats.generate_posts == 0


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("402", "out of balance (402)"),
        ("502", "failed (502)"),
        ("fail", "failed on the server"),
        ("401", "key was refused (401)"),
        ("timeout", "Stopped waiting"),
    ],
)
def test_errors_appear_in_the_panel_in_plain_words(
    make_panel: Callable[..., Panel], make_aclient: Callable[..., AsyncClient], emu: Emulator, fault: str, words: str
) -> None:
    options: dict[str, Any] = {}
    if fault in ("402", "502"):
        emu.inject("generate", "status", status=int(fault))
    elif fault == "fail":
        emu.next_task("fail")
    elif fault == "timeout":
        emu.next_task("stuck")
        options["settings"] = XenodiaSettings(timeout=1.0)
    else:
        options["client"] = make_aclient(api_key="not-the-key")
    panel = make_panel(**options)
    panel.prompt.value = "x"
    panel.generate_button.click()
    job = panel.jobs[0]
    until(lambda: job.state == "failed")
    assert words in job.detail.value
    assert KEY not in job.detail.value and "not-the-key" not in job.detail.value
    assert panel.results == []
    job.cancel_button.click()  # now "Dismiss"
    assert len(panel.jobs) == 0


def test_a_panel_with_its_own_budget_refuses_before_sending(make_panel: Callable[..., Panel], emu: Emulator) -> None:
    panel = make_panel(budget_usd=0.01)
    panel.prompt.value = "x"
    panel.generate_button.click()
    job = panel.jobs[0]
    until(lambda: job.state == "failed")
    assert "Over budget" in job.detail.value
    assert emu.stats.generate_posts == 0


def test_cancel_stops_waiting_and_the_task_stays_in_the_journal(panel: Panel, emu: Emulator) -> None:
    emu.next_task("stuck")
    panel.prompt.value = "never done"
    panel.generate_button.click()
    job = panel.jobs[0]
    until(lambda: job.task_id is not None)
    job.cancel_button.click()
    until(lambda: not job.running)
    assert job.state == "cancelled"
    assert job.task_id in job.detail.value and "journal" in job.detail.value
    assert panel.client.store.journal.find_task(job.task_id) is not None
    assert emu.stats.billed_calls == 1
    assert "running" not in panel.price.value


def test_wait_returns_when_every_job_has_ended(panel: Panel) -> None:
    for word in ("one", "two"):
        panel.prompt.value = word
        panel.generate_button.click()
    asyncio.run(panel.wait(60))
    assert len(panel.results) == 2
    assert not any(job.running for job in panel.jobs)


# Clearing and closing ------------------------------------------------------------------------------


def test_clear_empties_the_gallery_and_references_and_closes_their_widgets(panel: Panel) -> None:
    built = len(_instances)
    upload(panel, ("a.png", "image/png", png()))
    generated(panel, "x")
    assert len(_instances) > built
    panel.clear()
    assert len(_instances) == built
    assert (panel.results, len(panel.gallery.children), len(panel.picker.chips)) == ([], 0, 0)
    assert "0 / 16" in panel.picker.ref_count.value


def test_close_closes_every_widget_and_stops_running_jobs(make_panel: Callable[..., Panel], emu: Emulator) -> None:
    baseline = len(_instances)
    panel = make_panel()
    emu.next_task("stuck")
    panel.prompt.value = "y"
    panel.generate_button.click()
    job = panel.jobs[0]
    panel.close()
    assert len(_instances) == baseline
    assert panel.comm is None
    until(lambda: not job.running)
    assert panel.results == []


def test_a_panels_own_client_is_closed_with_it(make_panel: Callable[..., Panel]) -> None:
    panel = make_panel(budget_usd=1.0)
    closed: list[AsyncClient] = []
    real_aclose = panel.client.aclose

    async def aclose() -> None:
        closed.append(panel.client)
        await real_aclose()

    panel.client.aclose = aclose  # type: ignore[method-assign]
    panel.close()
    until(lambda: closed)  # on the engine, once the panel's jobs have ended
    assert closed == [panel.client]


def test_a_given_client_is_left_open(panel: Panel) -> None:
    panel.close()
    result = engine.run_blocking(panel.client.generate("still open"))
    assert result.prompt == "still open" and result.path.exists()


# The second round: fits any width, curation, lightbox, compare -------------------------------

EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u231b\u23f3]")


def every_widget(widget: Any) -> list[Any]:
    found = [widget]
    for child in getattr(widget, "children", ()) or ():
        found += every_widget(child)
    return found


# Fits any width; what the first user saw -------------------------------------------------------


def test_no_control_has_a_fixed_pixel_width_that_could_clip(panel: Panel) -> None:
    generated(panel, "a card to measure")
    wide = []
    for widget in every_widget(panel):
        width = getattr(getattr(widget, "layout", None), "width", None) or ""
        if width.endswith("px") and int(width[:-2]) > 180:
            wide.append((type(widget).__name__, width))
    assert wide == []
    assert panel.gallery.layout.display is None and type(panel.gallery).__name__ == "GridBox"
    assert f"repeat(auto-fill, {markup.CARD_WIDTH_PX}px)" in markup.PANEL_CSS


def test_icons_are_font_awesome_not_emoji(panel: Panel) -> None:
    panel.add_reference("https://example.com/a.png")
    assert "fa fa-link" in panel.picker.chips[0].picture.value
    panel.picker.clear()  # example.com is not reachable from here
    generated(panel, "icons")
    texts = [getattr(w, "value", "") for w in every_widget(panel) if isinstance(getattr(w, "value", None), str)]
    texts += [getattr(w, "description", "") for w in every_widget(panel)]
    assert not [t for t in texts if EMOJI.search(t)]
    assert "fa fa-link" in markup.url_tile_html()
    assert not EMOJI.search(markup.progress_html("x", "generating", 40, 3.0))
    card = panel.cards[0]
    assert [b.icon for b in (card.use_button, card.save_button, card.var_button, card.star_button, card.reject_button)] == [
        "plus", "save", "code", "star-o", "ban"
    ]
    assert all(b.tooltip for b in (card.use_button, card.save_button, card.var_button, card.star_button))


def test_the_upload_button_does_not_show_a_stale_count(panel: Panel) -> None:
    assert panel.upload.icon == "upload"
    assert ".xenodia-upload::after" in markup.PANEL_CSS and 'content: "Upload"' in markup.PANEL_CSS


def test_the_same_variable_result_or_url_is_added_once(panel: Panel, ns: dict[str, Any]) -> None:
    ns["pic"] = Image.new("RGB", (20, 20), "green")
    panel.picker.refresh_namespace()
    panel.picker.namespace_add.click()
    panel.picker.namespace_add.click()
    assert [c.label for c in panel.picker.chips] == ["pic"]
    assert "pic: it is a reference already" in panel.message.value
    for _ in range(2):
        panel.add_reference("https://example.com/b.png")
    assert len(panel.picker.chips) == 2
    assert "it is a reference already" in panel.message.value
    panel.picker.remove(panel.picker.chips[1])  # example.com is not reachable from here
    generated(panel, "once")
    panel.cards[0].use_button.click()
    panel.cards[0].use_button.click()
    assert [c.kind for c in panel.picker.chips] == ["namespace", "result"]


def test_a_bad_url_is_refused_without_talk_of_sending(panel: Panel) -> None:
    panel.picker.url.value = "ftp://example.com/a.png"
    panel.picker.url_add.click()
    said = panel.message.value
    assert "Not added as a reference" in said and "ftp" in said
    assert "nothing was sent" not in said and "sent" not in said


# Compact cards and curation -------------------------------------------------------------------


def test_star_and_reject_are_kept_in_the_journal_and_shown(panel: Panel) -> None:
    generated(panel, "star me")
    generated(panel, "reject me", 2)
    starred, rejected = panel.cards[0], panel.cards[1]
    starred.star_button.click()
    rejected.reject_button.click()
    journal = panel.client.store.journal
    ratings = {e.prompt: e.rating for e in journal.entries()}
    assert ratings == {"star me": 1, "reject me": -1}
    assert "xenodia-starred" in starred.box._dom_classes and starred.star_button.icon == "star"
    assert "xenodia-rejected" in rejected.box._dom_classes and rejected.reject_button.button_style == "danger"
    starred.star_button.click()  # a second click clears
    assert {e.prompt: e.rating for e in journal.entries()}["star me"] == 0
    assert "xenodia-starred" not in starred.box._dom_classes


def test_the_filter_shows_all_starred_or_not_rejected(panel: Panel) -> None:
    for i, word in enumerate(("plain", "good", "bad")):
        generated(panel, word, i + 1)
    cards = {card.result.prompt: card for card in panel.cards}
    cards["good"].star_button.click()
    cards["bad"].reject_button.click()

    def visible() -> set[str]:
        return {p for p, c in cards.items() if c.box.layout.display != "none"}

    assert visible() == {"plain", "good", "bad"}
    panel.results_view.filter.value = "starred"
    assert visible() == {"good"}
    panel.results_view.filter.value = "not rejected"
    assert visible() == {"plain", "good"}
    cards["plain"].reject_button.click()  # a card rejected while filtered hides at once
    assert visible() == {"good"}


def test_load_history_fills_the_gallery_newest_first_24_at_a_time(
    make_panel: Callable[..., Panel], make_aclient: Callable[..., AsyncClient]
) -> None:
    client = make_aclient()
    for i in range(HISTORY_PAGE + 3):
        engine.run_blocking(client.generate(f"old {i:02d}"))
    engine.run_blocking(client.history())  # the journal is written
    newest = client.store.journal.entries(limit=1)[0]
    client.store.journal.rate(newest.id, 1)
    panel = make_panel(client=client)
    view = panel.results_view
    view.load_history().wait(60)
    assert len(panel.cards) == HISTORY_PAGE
    shown = [panel.cards[i].result.prompt for i in range(len(panel.cards))][::-1]  # the grid's order
    assert shown[0] == f"old {HISTORY_PAGE + 2:02d}" and shown == sorted(shown, reverse=True)
    assert [card.box for card in reversed(panel.cards)] == list(panel.gallery.children)
    assert next(c for c in panel.cards if c.result.journal_id == newest.id).rating == 1  # from the journal
    until(lambda: all(card.image.src for card in panel.cards))  # thumbnails fill in lazily
    assert not view.history_button.disabled
    view.load_history().wait(60)
    assert len(panel.cards) == HISTORY_PAGE + 3
    assert view.history_button.disabled  # nothing older
    generated(panel, "new one", HISTORY_PAGE + 4)
    assert panel.gallery.children[0] is panel.cards[-1].box and panel.last.prompt == "new one"


# The lightbox ------------------------------------------------------------------------------------


def test_a_click_on_a_thumbnail_opens_a_screen_sized_preview_with_the_details(panel: Panel) -> None:
    panel.aspect_ratio.value, panel.resolution.value = "16:9", "4K"
    generated(panel, "big one")
    generated(panel, "second", 2)
    box = panel.results_view.lightbox
    assert box.layout.display == "none"
    panel.cards[0].image.click()  # the older card: second in the grid
    assert box.layout.display is None
    text = box.text.value
    assert "big one" in text and "16:9" in text and "4K" in text and "$" in text
    assert panel.results[0].task_id in text and "2 of 2" in text
    until(lambda: box.picture.value != panel.cards[0].thumbnail)
    preview = Image.open(__import__("io").BytesIO(box.picture.value))
    assert preview.format == "JPEG" and max(preview.size) == markup.PREVIEW_PX  # not the 3840 px PNG
    box.next_button.click()
    assert "second" in box.text.value and "1 of 2" in box.text.value
    box.previous_button.click()
    assert "big one" in box.text.value
    box.close_button.click()
    assert box.layout.display == "none" and box.picture.value == b""  # nothing large left in widget state


# The compare strip -------------------------------------------------------------------------------


def test_compare_shows_2_to_4_results_in_a_compare_view_with_their_differences(panel: Panel) -> None:
    for i, (aspect, resolution) in enumerate((("1:1", "1K"), ("16:9", "2K"), ("1:1", "1K"), ("4:3", "1K"), ("1:1", "2K"))):
        panel.aspect_ratio.value, panel.resolution.value = aspect, resolution
        generated(panel, "same prompt" if i < 4 else "other", i + 1)
    strip = panel.results_view.compare
    cards = list(panel.cards)
    cards[0].compare_toggle.value = True
    assert strip.layout.display == "none"  # one is not a comparison
    cards[1].compare_toggle.value = True
    assert strip.layout.display is None and strip.view.results == [cards[0].result, cards[1].result]
    table = strip.diff.value
    assert "aspect ratio" in table and "resolution" in table and "prompt" not in table
    assert "1:1" in table and "16:9" in table
    strip.view.wait()  # the pair's previews, made from the files (not the cards' thumbnails stretched)
    left = Image.open(io.BytesIO(strip.view.shown["left"]))
    assert max(left.size) == COMPARE_VIEW_PX
    cards[2].compare_toggle.value = True
    cards[3].compare_toggle.value = True
    cards[4].compare_toggle.value = True  # a fifth is refused
    assert cards[4].compare_toggle.value is False and len(strip.picked) == 4
    assert "at most 4" in panel.message.value
    assert len(strip.view.results) == 4 and strip.view.baseline == 0  # the first picked stays the baseline
    cards[1].compare_toggle.value = False
    assert [c.result for c in strip.picked] == [cards[0].result, cards[2].result, cards[3].result]
    assert strip.view.results == [c.result for c in strip.picked]
    strip.clear_button.click()
    assert strip.layout.display == "none" and not any(c.compare_toggle.value for c in cards)
    assert strip.view.results == [] and strip.view.shown == {}  # nothing large left in the view


def test_clear_closes_the_lightbox_and_the_compare_strip_widgets(panel: Panel) -> None:
    generated(panel, "a")
    generated(panel, "b", 2)
    panel.cards[0].image.click()
    panel.cards[0].compare_toggle.value = True
    panel.cards[1].compare_toggle.value = True
    panel.clear()
    view = panel.results_view
    assert view.lightbox.layout.display == "none" and view.compare.layout.display == "none"
    assert view.compare.view.results == [] and len(panel.cards) == 0
    assert isinstance(view.lightbox.picture, Widget)


def test_twenty_cards_save_small_and_the_lightbox_leaves_nothing_large(panel: Panel, emu: Emulator) -> None:
    emu.state.latency = 0.05
    for i in range(20):
        generated(panel, f"card number {i}", i + 1)
    panel.cards[0].image.click()
    until(lambda: panel.results_view.lightbox.picture.value != panel.cards[0].thumbnail)
    panel.results_view.lightbox.close_button.click()
    # What JupyterLab saves (drop_defaults): one model per card face, not twenty.
    saved = json.dumps(Widget.get_manager_state(drop_defaults=True), default=lambda b: "x" * (len(b) * 4 // 3))
    assert len(saved) < 200_000, len(saved)
    assert KEY not in saved


# Drop and paste -------------------------------------------------------------------------------------


def test_dropped_files_become_chips_after_the_upload_checks_and_leave_no_state(panel: Panel, emu: Emulator) -> None:
    jpeg = io.BytesIO()
    Image.new("RGB", (30, 20), "blue").save(jpeg, "JPEG")
    big = png()[:16] + bytes(9 * 2**20)  # three 4 MiB parts, joined, then checked like any upload
    panel.dropzone.receive(("a.png", png()), ("b.jpg", jpeg.getvalue()), ("c.gif", b"GIF89a" + bytes(40)), ("big.png", big))
    assert chip_labels(panel) == ["a.png", "b.jpg"]
    said = panel.message.value
    assert "c.gif: it is a GIF" in said and "big.png: it has no pixels" in said  # both reasons, one message
    panel.dropzone._message(panel.dropzone, {"event": "refused", "name": "huge.png", "size": 40 * 2**20}, [])
    panel.dropzone._message(panel.dropzone, {"event": "end"}, [])
    assert "huge.png: it is 41,943,040 bytes" in panel.message.value
    state = json.dumps(panel.dropzone.get_state(), default=lambda b: f"<{len(b)} bytes>")
    assert "bytes>" not in state and len(state) < 10_000  # the bytes came as messages, never as state
    generated(panel, "with drops")
    assert [f["filename"] for f in emu.last_generation["files"]] == ["a.png", "b.jpg"]
    assert [f["mime_sniffed"] for f in emu.last_generation["files"]] == ["image/png", "image/jpeg"]


def test_drops_count_against_the_limit_of_16(panel: Panel) -> None:
    panel.dropzone.receive(*[(f"d{i}.png", png((i * 10, 0, 0))) for i in range(17)])
    assert len(panel.picker.chips) == 16 and "d16.png: at most 16" in panel.message.value


def test_a_sender_that_ignores_the_browsers_limits_is_refused_as_parts_arrive(panel: Panel) -> None:
    """Anything can talk to the kernel: the limits hold here too, and nothing is
    held until an "end" that may never come."""
    zone = panel.dropzone
    chunk = memoryview(bytes(4 * 2**20))
    for index in range(20):  # 80 MiB claimed as one file
        zone._message(zone, {"event": "part", "id": "flood", "name": "flood.png", "index": index, "count": 20,
                             "size": 80 * 2**20}, [chunk])
    assert zone._assembling == {}  # refused at its first part: nothing held
    zone._message(zone, {"event": "end"}, [])
    assert "flood.png: it is 83,886,080 bytes" in panel.message.value
    for index in range(10):  # a size that lies: more bytes arrive than it said
        zone._message(zone, {"event": "part", "id": "liar", "name": "liar.png", "index": index, "count": 8,
                             "size": 2**20}, [chunk])
    assert zone._assembling == {}
    zone._message(zone, {"event": "end"}, [])
    assert "liar.png: more bytes arrived" in panel.message.value


def test_parts_out_of_order_are_joined_by_index_or_refused(panel: Panel) -> None:
    zone = panel.dropzone
    data = png()[:16] + bytes(5 * 2**20)
    first, second = data[: 4 * 2**20], data[4 * 2**20 :]
    meta = {"event": "part", "id": "swap", "name": "swap.png", "count": 2, "size": len(data)}
    zone._message(zone, {**meta, "index": 1}, [memoryview(second)])
    zone._message(zone, {**meta, "index": 0}, [memoryview(first)])
    zone._message(zone, {"event": "end"}, [])
    assert "swap.png: it has no pixels" in panel.message.value  # joined in index order: a PNG header first
    zone._message(zone, {**meta, "id": "twice", "name": "twice.png", "index": 0}, [memoryview(first)])
    zone._message(zone, {**meta, "id": "twice", "name": "twice.png", "index": 0}, [memoryview(first)])
    zone._message(zone, {"event": "end"}, [])
    assert "twice.png: its parts arrived out of order or twice" in panel.message.value


def test_a_huge_dropped_file_name_is_shortened_wherever_it_shows(panel: Panel) -> None:
    name = "x" * 2_000_000 + ".png"
    panel.dropzone.receive((name, png()))
    [chip] = chip_labels(panel)
    assert len(chip) <= 80 and chip.endswith(".png")
    assert len(json.dumps(panel.picker.get_state(), default=str)) < 100_000


# In a real kernel ---------------------------------------------------------------------------------

SETUP = r'''
import asyncio, json, time
from ipywidgets.widgets.widget import _instances
import xenodia_jupyter as xj
from xenodia_jupyter.jupyter.panel.studio import Panel


async def until(condition, timeout=60.0):
    """Wait on the kernel's loop (background jobs go on meanwhile)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def all_state():
    """Every widget's state as the notebook would save it (bytes shown by size)."""
    return json.dumps([w.get_state() for w in list(_instances.values())], default=lambda b: f"<{len(b)} bytes>")
'''


@pytest.fixture(scope="module")
def kernel_emu() -> Iterator[Emulator]:
    with Emulator(latency=0.3, poll_interval_ms=30, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def kernel_session(kernel_emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    cwd = tmp_path_factory.mktemp("panel")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": kernel_emu.base_url, "XENODIA_OUTPUT_DIR": str(cwd / "out")}
    with KernelSession(cwd, env, timeout=90) as session:
        session.run(SETUP)
        session.run("%load_ext xenodia_jupyter")
        yield session


@pytest.fixture
def kernel(kernel_emu: Emulator, kernel_session: KernelSession) -> Iterator[KernelSession]:
    kernel_emu.reset()
    kernel_emu.state.latency = 0.3
    yield kernel_session
    kernel_session.run("for _p in [v for v in list(globals().values()) if isinstance(v, Panel)]: _p.close()")


def ask(kernel: KernelSession, expression: str) -> object:
    """The value of a Python literal-producing expression in the kernel."""
    return kernel.value(f"({expression})")


def test_the_magic_opens_a_panel_that_shows_as_a_widget(kernel: KernelSession) -> None:
    kernel.run("m = %xenodia panel")
    assert ask(kernel, "isinstance(m, Panel)") is True
    cell = kernel.run("m")
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)


def test_generate_runs_in_the_background_of_a_real_kernel(kernel: KernelSession, kernel_emu: Emulator) -> None:
    kernel_emu.state.latency = 1.0
    cell = kernel.run("p = xj.panel(); p.prompt.value = 'A red bicycle'; p.generate_button.click(); print(len(p.jobs))")
    assert text(cell).split() == ["1"] and error_output(cell) is None  # the click returned at once
    assert ask(kernel, "1 + 1") == 2  # and the kernel is free for other cells meanwhile
    kernel.run("await until(lambda: len(p.results) == 1)")
    assert ask(kernel, "p.last.prompt, len(p.jobs)") == ("A red bicycle", 0)
    assert "spent this session: $0.07" in str(ask(kernel, "p.price.value"))


def test_the_api_key_is_never_a_widget_trait(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); p.prompt.value = 'x'; p.generate_button.click()")
    kernel.run("await until(lambda: len(p.results) == 1)")
    assert KEY not in str(ask(kernel, "all_state()"))
    assert KEY not in str(ask(kernel, "repr(p)"))


def test_the_magics_budget_applies_to_the_panel(kernel: KernelSession, kernel_emu: Emulator) -> None:
    kernel.run("%config XenodiaMagics.budget_usd = 0.01")
    try:
        kernel.run("p = Panel(); p.prompt.value = 'x'; p.generate_button.click()")
        kernel.run("await until(lambda: p.jobs and p.jobs[0].state == 'failed')")
        assert "Over budget" in str(ask(kernel, "p.jobs[0].detail.value"))
        assert kernel_emu.stats.generate_posts == 0
    finally:
        kernel.run("%config XenodiaMagics.budget_usd = None")


@pytest.mark.parametrize("ending", ["success", "error", "cancel", "no key"])
def test_the_running_count_drops_when_a_job_ends(kernel: KernelSession, kernel_emu: Emulator, ending: str) -> None:
    options = ""
    if ending == "error":
        kernel_emu.inject("generate", "status", status=502)
    elif ending == "cancel":
        kernel_emu.next_task("stuck")
    elif ending == "no key":
        options = f"client=xj.AsyncClient(api_key='', base_url={kernel_emu.base_url!r})"
    kernel.run(f"p = Panel({options}); p.prompt.value = 'counted'; p.generate_button.click()")
    if ending == "cancel":
        kernel.run("await until(lambda: p.jobs[0].task_id is not None); p.jobs[0].cancel_button.click()")
    kernel.run("await p.wait(30)")
    # Read at once: the count is redrawn when the job has ended, not on a later event.
    assert ask(kernel, "sum(j.running for j in p.jobs), 'running' in p.price.value") == (0, False)
    assert ask(kernel, "len(p.results)") == (1 if ending == "success" else 0)


def test_the_lightbox_keys_step_and_close(panel: Panel, emu: Emulator) -> None:
    generated(panel, "one")
    generated(panel, "two", count=2)
    box = panel.results_view.lightbox
    panel.results_view.open_lightbox(panel.cards[0])
    start = box.index
    box._key(None, {"action": "next"}, [])
    assert box.index == (start + 1) % 2
    box._key(None, {"action": "previous"}, [])
    assert box.index == start
    box._key(None, {"action": "close"}, [])
    assert box.index == -1 and box.picture.value == b""
    box._key(None, "not a dict", [])  # anything else is ignored
