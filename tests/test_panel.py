"""The panel in a real kernel (nbclient) against the emulator: building it,
the option rules, uploads set the way ipywidgets' own tests set them, picking
a namespace image, Generate through `generate_button.click()`, the gallery,
errors shown inside the panel, cancel, and closing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nbkernel import KernelSession, error_output, text

from xenodia_jupyter.emulator import Emulator

KEY = "panel-test-secret-key-93c1e2"

SETUP = r'''
import asyncio, io, json, time
import numpy as np
from PIL import Image
import ipywidgets as W
from ipywidgets.widgets.widget import _instances
import xenodia_jupyter as xj
from xenodia_jupyter.jupyter.panel import Panel


async def until(condition, timeout=60.0):
    """Wait on the kernel's loop (background jobs go on meanwhile)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def png(color="red", size=(64, 48), fmt="PNG"):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def upload(panel, *files):
    """What the browser sends when files are chosen (as in ipywidgets' test_widget_upload)."""
    panel.upload.set_state({"value": [
        {"name": name, "type": kind, "size": len(data), "last_modified": 1578578296434, "content": memoryview(data)}
        for name, kind, data in files
    ]})


def message(panel):
    return panel.message.value


def all_state():
    """Every widget's state as the notebook would save it (bytes shown by size)."""
    return json.dumps([w.get_state() for w in list(_instances.values())], default=lambda b: f"<{len(b)} bytes>")
'''


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.3, poll_interval_ms=30, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def kernel(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    cwd = tmp_path_factory.mktemp("panel")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(cwd / "out")}
    with KernelSession(cwd, env, timeout=90) as session:
        session.run(SETUP)
        yield session


@pytest.fixture(autouse=True)
def _fresh(emu: Emulator, kernel: KernelSession) -> Iterator[None]:
    emu.reset()
    emu.state.latency = 0.3
    yield
    kernel.run("for _p in [v for v in list(globals().values()) if isinstance(v, Panel)]: _p.close()")


def ask(kernel: KernelSession, expression: str) -> object:
    """The value of a Python literal-producing expression in the kernel."""
    return kernel.value(f"({expression})")


# Building ---------------------------------------------------------------------------


def test_panel_is_a_widget_with_the_documented_attributes(kernel: KernelSession) -> None:
    kernel.run("p = xj.panel()")
    assert ask(kernel, "isinstance(p, W.VBox)") is True
    assert ask(kernel, "[type(x).__name__ for x in (p.prompt, p.aspect_ratio, p.resolution, p.generate_button)]") == [
        "Textarea",
        "Dropdown",
        "Dropdown",
        "Button",
    ]
    assert ask(kernel, "p.results, p.last") == ([], None)
    cell = kernel.run("p")
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)


def test_the_magic_opens_a_panel(kernel: KernelSession) -> None:
    kernel.run("%load_ext xenodia_jupyter")
    kernel.run("m = %xenodia panel")
    assert ask(kernel, "isinstance(m, Panel)") is True


def test_choices_start_from_the_documented_defaults_and_are_refined_by_discovery(
    kernel: KernelSession, emu: Emulator
) -> None:
    kernel.run("p = Panel()")
    assert ask(kernel, "p.aspect_ratio.options") == ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
    kernel.run("await until(lambda: p._info.from_discovery)")
    assert emu.stats.model_requests <= 1  # one discovery per client, not per panel
    assert "$0.07" in ask(kernel, "p.price.value")
    assert "spent this session" in ask(kernel, "p.price.value")


def test_auto_aspect_ratio_leaves_only_1K_and_says_why(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); p.resolution.value = '2K'; p.aspect_ratio.value = 'auto'")
    assert ask(kernel, "p.resolution.options, p.resolution.value") == (("1K",), "1K")
    assert "only 1K" in ask(kernel, "p.rule_note.value")
    kernel.run("p.aspect_ratio.value = '16:9'")
    assert ask(kernel, "p.resolution.options") == ("1K", "2K", "4K")
    assert ask(kernel, "p.rule_note.value") == ""


def test_1_1_removes_4K_and_keeps_the_nearest_resolution(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); p.aspect_ratio.value = '16:9'; p.resolution.value = '4K'; p.aspect_ratio.value = '1:1'")
    assert ask(kernel, "p.resolution.options, p.resolution.value") == (("1K", "2K"), "2K")
    assert "4K" in ask(kernel, "p.rule_note.value")


# References -----------------------------------------------------------------------------


def test_uploads_are_checked_on_arrival_and_not_kept_in_widget_state(kernel: KernelSession) -> None:
    kernel.run(
        "p = Panel()\n"
        "gif = b'GIF89a' + b'\\x00' * 40\n"
        "huge = png()[:16] + bytes(31 * 2**20)\n"
        "upload(p, ('good.png', 'image/png', png()), ('fake.png', 'image/png', gif), ('empty.jpg', 'image/jpeg', b''),"
        " ('huge.png', 'image/png', huge))"
    )
    assert ask(kernel, "[c.label for c in p._refs]") == ["good.png"]
    said = ask(kernel, "message(p)")
    assert "fake.png: it is a GIF" in said and "GIF" in said
    assert "empty.jpg: it is empty" in said
    assert "huge.png: it is 32,505,872 bytes; at most 31,457,280" in said
    assert "1 / 16" in ask(kernel, "p.ref_count.value")
    assert ask(kernel, "p.upload.value") == ()  # the bytes left the widget's state
    kernel.run("await until(lambda: len(p._refs[0].picture.value) > 0)")
    assert ask(kernel, "len(p._refs[0].picture.value) < 5000") is True  # a small thumbnail


def test_several_files_at_once_up_to_the_limit_of_16(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); upload(p, *[(f'r{i}.png', 'image/png', png((i * 12, 0, 0))) for i in range(17)])")
    assert ask(kernel, "len(p._refs)") == 16
    assert "16 / 16" in ask(kernel, "p.ref_count.value")
    assert "r16.png: at most 16" in ask(kernel, "message(p)")


def test_a_reference_chip_is_removed_with_its_widgets(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); upload(p, ('a.png', 'image/png', png()), ('b.png', 'image/png', png('blue')))")
    kernel.run("before = len(_instances); chip = p._refs[0]; chip.remove_button.click()")
    assert ask(kernel, "[c.label for c in p._refs]") == ["b.png"]
    assert ask(kernel, "chip.box.comm is None and chip.picture.comm is None") is True
    assert ask(kernel, "len(_instances) < before") is True
    assert "1 / 16" in ask(kernel, "p.ref_count.value")


def test_the_namespace_picker_lists_images_arrays_and_results_and_is_refreshable(kernel: KernelSession) -> None:
    kernel.run("p = Panel()")
    kernel.run("pic = Image.new('RGB', (40, 30), 'green'); arr = np.zeros((20, 24, 3), np.uint8); word = 'no'")
    names = ask(kernel, "[name for _label, name in p.namespace_picker.options]")
    assert "pic" in names and "arr" in names and "word" not in names  # refreshed after the cell ran
    assert ask(kernel, "p.namespace_picker.value is not None") is True  # something is always picked
    kernel.run("del pic; p.namespace_refresh.click()")
    assert "pic" not in ask(kernel, "[name for _label, name in p.namespace_picker.options]")
    kernel.run("p.namespace_picker.value = 'arr'; p.namespace_add.click()")
    kernel.run("await until(lambda: len(p._refs[0].picture.value) > 0)")
    assert ask(kernel, "[(c.kind, c.label) for c in p._refs]") == [("namespace", "arr")]
    kernel.run("arr[:] = 255")  # later edits do not change what was picked
    assert ask(kernel, "int(p.references[0].max())") == 0


def test_a_namespace_object_that_cannot_be_a_reference_is_refused_with_the_reason(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); p.add_reference(np.zeros((0, 0, 3), np.uint8), 'empty_array')")
    kernel.run("await until(lambda: not p._refs)")
    assert "empty_array:" in ask(kernel, "message(p)")


def test_urls_are_checked_and_listed(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); p.url.value = 'ftp://example.com/a.png'; p.url_add.click()")
    assert ask(kernel, "len(p._refs)") == 0
    assert "ftp" in ask(kernel, "message(p)")
    kernel.run("p.url.value = 'https://example.com/a.png'; p.url_add.click()")
    assert ask(kernel, "[(c.kind, c.label) for c in p._refs]") == [("url", "https://example.com/a.png")]
    assert ask(kernel, "p.url.value") == ""


# Generating --------------------------------------------------------------------------------


def test_generate_runs_in_the_background_and_lists_the_result(kernel: KernelSession, emu: Emulator) -> None:
    emu.state.latency = 1.0
    cell = kernel.run(
        "p = Panel(); p.prompt.value = 'A red bicycle'; p.aspect_ratio.value = '16:9'; p.resolution.value = '2K'\n"
        "p.generate_button.click()\n"
        "print(len(p.jobs), len(p.results))"
    )
    assert text(cell).split() == ["1", "0"]  # the click returned at once; the job runs on
    assert ask(kernel, "1 + 1") == 2  # and the kernel is free for other cells meanwhile
    kernel.run("await until(lambda: p.jobs and p.jobs[0].progress.value > 0)")
    kernel.run("await until(lambda: len(p.results) == 1)")
    assert ask(kernel, "p.last is p.results[-1]") is True
    assert ask(kernel, "p.last.prompt, p.last.aspect_ratio, p.last.resolution") == ("A red bicycle", "16:9", "2K")
    assert ask(kernel, "p.last.image.size") == (2048, 1152)
    assert ask(kernel, "len(p.jobs)") == 0  # the finished job's row is gone
    kernel.run("card = p._cards[0]")
    assert ask(kernel, "card.box is p.gallery.children[0]") is True
    assert "title='A red bicycle'" in ask(kernel, "card.image.value")
    assert ask(kernel, "0 < len(card.thumbnail) < 20_000") is True  # a thumbnail, not the 2K PNG
    assert ask(kernel, "len(card.image.value) < 30_000") is True
    assert "spent this session: $0.07" in ask(kernel, "p.price.value")
    assert emu.last_generation["fields"]["prompt"] == "A red bicycle"
    assert KEY not in ask(kernel, "all_state()")


def test_several_jobs_run_at_once_each_with_its_own_progress(kernel: KernelSession, emu: Emulator) -> None:
    emu.state.latency = 1.5
    kernel.run("p = Panel()\nfor word in ('one', 'two', 'three'):\n    p.prompt.value = word; p.generate_button.click()")
    assert ask(kernel, "len(p.jobs)") == 3
    assert ask(kernel, "len({id(j.progress) for j in p.jobs})") == 3
    kernel.run("await until(lambda: len(p.results) == 3)")
    assert emu.stats.max_in_flight >= 2
    # newest first in the gallery; results newest last
    assert ask(kernel, "[c.result for c in p._cards] == p.results") is True
    assert ask(kernel, "[b for b in p.gallery.children] == [c.box for c in p._cards][::-1]") is True


def test_references_from_all_three_places_are_sent(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("p = Panel(); p.prompt.value = 'first'; p.generate_button.click()")
    kernel.run("await until(lambda: len(p.results) == 1)")
    kernel.run(
        "upload(p, ('logo.png', 'image/png', png('navy')))\n"
        "shot = np.full((16, 16, 3), 200, np.uint8); p.refresh_namespace()\n"
        "p.namespace_picker.value = 'shot'; p.namespace_add.click()\n"
        "p.url.value = p.last.urls[0]; p.url_add.click()\n"
        "p._cards[0].use_button.click()\n"
        "p.prompt.value = 'second'; p.generate_button.click()"
    )
    kernel.run("await until(lambda: len(p.results) == 2)")
    sent = emu.last_generation
    assert sent["transport"] == "multipart"
    assert len(sent["files"]) == 4
    assert sent["files"][0]["filename"] == "logo.png"
    assert {f["mime_sniffed"] for f in sent["files"]} == {"image/png"}


def test_gallery_actions_use_as_reference_to_variable_and_save_as(kernel: KernelSession, tmp_path: Path) -> None:
    kernel.run("p = Panel(); p.prompt.value = 'A lighthouse'; p.generate_button.click()")
    kernel.run("await until(lambda: len(p.results) == 1); card = p._cards[0]")
    kernel.run("card.use_button.click()")
    assert ask(kernel, "[(c.kind, c.count) for c in p._refs]") == [("result", 1)]
    kernel.run("card.var_button.click(); card.field.value = 'hero'; card.ok_button.click()")
    assert ask(kernel, "hero is p.last") is True
    assert "bound to hero" in ask(kernel, "card.note.value")
    kernel.run("card.var_button.click(); card.field.value = 'not a name'; card.ok_button.click()")
    assert "not a valid Python name" in ask(kernel, "card.note.value")
    target = tmp_path / "copies" / "lighthouse.png"
    kernel.run(f"card.save_button.click(); card.field.value = {str(target)!r}; card.ok_button.click()")
    assert target.read_bytes() == Path(ask(kernel, "str(p.last.path)")).read_bytes()
    assert "saved to" in ask(kernel, "card.note.value")


# Errors, shown inside the panel -------------------------------------------------------------------


def test_an_empty_prompt_is_refused_before_anything_is_sent(kernel: KernelSession, emu: Emulator) -> None:
    cell = kernel.run("p = Panel(); p.prompt.value = '   '; p.generate_button.click()")
    assert error_output(cell) is None and not cell.outputs  # nothing goes to the log or the output
    assert "Write a prompt first" in ask(kernel, "message(p)")
    assert ask(kernel, "len(p.jobs)") == 0
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
    kernel: KernelSession, emu: Emulator, fault: str, words: str
) -> None:
    options = ""
    if fault in ("402", "502"):
        emu.inject("generate", "status", status=int(fault))
    elif fault == "fail":
        emu.next_task("fail")
    elif fault == "timeout":
        emu.next_task("stuck")
        options = "timeout=1.0"
    else:
        options = f"client=xj.AsyncClient(api_key='not-the-key', base_url={emu.base_url!r})"
    cell = kernel.run(f"p = Panel({options}); p.prompt.value = 'x'; p.generate_button.click()")
    assert not cell.outputs
    kernel.run("await until(lambda: p.jobs and p.jobs[0].state == 'failed')")
    detail = ask(kernel, "p.jobs[0].detail.value")
    assert words in detail
    assert KEY not in detail and "not-the-key" not in detail
    assert ask(kernel, "p.results") == []
    kernel.run("p.jobs[0].cancel_button.click()")  # now "Dismiss"
    assert ask(kernel, "len(p.jobs)") == 0


def test_the_magics_budget_applies_to_the_panel(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("%load_ext xenodia_jupyter")
    kernel.run("%config XenodiaMagics.budget_usd = 0.01")
    try:
        kernel.run("p = Panel(); p.prompt.value = 'x'; p.generate_button.click()")
        kernel.run("await until(lambda: p.jobs and p.jobs[0].state == 'failed')")
        assert "Over budget" in ask(kernel, "p.jobs[0].detail.value")
        assert emu.stats.generate_posts == 0
    finally:
        kernel.run("%config XenodiaMagics.budget_usd = None")


def test_cancel_stops_waiting_and_the_task_stays_in_the_journal(kernel: KernelSession, emu: Emulator) -> None:
    emu.next_task("stuck")
    kernel.run("p = Panel(); p.prompt.value = 'never done'; p.generate_button.click()")
    kernel.run("await until(lambda: p.jobs[0].task_id is not None); job = p.jobs[0]")
    kernel.run("job.cancel_button.click(); await until(lambda: not job.running)")
    task_id = ask(kernel, "job.task_id")
    assert ask(kernel, "job.state") == "cancelled"
    detail = ask(kernel, "job.detail.value")
    assert task_id in detail and "journal" in detail
    assert ask(kernel, f"p.client.store.journal.find_task({task_id!r}) is not None") is True
    assert emu.stats.billed_calls == 1


@pytest.mark.parametrize("ending", ["success", "error", "cancel", "no key"])
def test_the_running_count_drops_when_a_job_ends(kernel: KernelSession, emu: Emulator, ending: str) -> None:
    options = ""
    if ending == "error":
        emu.inject("generate", "status", status=502)
    elif ending == "cancel":
        emu.next_task("stuck")
    elif ending == "no key":
        options = f"client=xj.AsyncClient(api_key='', base_url={emu.base_url!r})"
    kernel.run(f"p = Panel({options}); p.prompt.value = 'counted'; p.generate_button.click()")
    if ending == "cancel":
        kernel.run("await until(lambda: p.jobs[0].task_id is not None); p.jobs[0].cancel_button.click()")
    kernel.run("await p.wait(30)")
    # Read at once: the count is redrawn when the job has ended, not on a later event.
    assert ask(kernel, "sum(j.running for j in p.jobs), 'running' in p.price.value") == (0, False)
    assert ask(kernel, "len(p.results)") == (1 if ending == "success" else 0)


# Closing ----------------------------------------------------------------------------------------------


def test_close_and_clear_close_every_child_widget(kernel: KernelSession) -> None:
    kernel.run("baseline = len(_instances); p = Panel(); built = len(_instances)")
    kernel.run("upload(p, ('a.png', 'image/png', png())); p.prompt.value = 'x'; p.generate_button.click()")
    kernel.run("await until(lambda: len(p.results) == 1)")
    assert ask(kernel, "len(_instances) > built") is True
    kernel.run("p.clear()")
    assert ask(kernel, "len(_instances) == built, p.results, len(p.gallery.children)") == (True, [], 0)
    kernel.run("p.prompt.value = 'y'; p.generate_button.click(); p.close()")
    assert ask(kernel, "len(_instances) == baseline") is True
    assert ask(kernel, "p.comm is None") is True


def test_the_api_key_is_never_a_widget_trait(kernel: KernelSession) -> None:
    kernel.run("p = Panel(); p.prompt.value = 'x'; p.generate_button.click()")
    kernel.run("await until(lambda: len(p.results) == 1)")
    assert KEY not in ask(kernel, "all_state()")
    assert KEY not in ask(kernel, "repr(p)")
