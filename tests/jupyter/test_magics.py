"""`%%xenodia` and `%xenodia` in a real kernel (nbclient) against the emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbkernel import KernelSession, error_output, html, mime_types, text

from xenodia_jupyter.emulator import Emulator

KEY = "magic-test-secret-key-7f3a9c"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.3, poll_interval_ms=30) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def kernel(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    cwd = tmp_path_factory.mktemp("magic")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(cwd / "out")}
    with KernelSession(cwd, env) as session:
        session.run("import sys; before = set(sys.modules)\n%load_ext xenodia_jupyter")
        yield session


@pytest.fixture(autouse=True)
def _fresh_emulator(emu: Emulator) -> None:
    emu.reset()


def test_loading_the_extension_imports_nothing_heavy(kernel: KernelSession) -> None:
    loaded = kernel.value("sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('httpx', 'PIL', 'ipywidgets', 'numpy', 'httpcore'))")
    assert loaded == []


def test_help_is_built_from_the_options(kernel: KernelSession) -> None:
    doc = text(kernel.run("print(get_ipython().find_cell_magic('xenodia').__doc__)"))
    for option in ("--aspect-ratio", "--resolution", "--ref", "--out", "--background", "--dry-run", "--timeout", "--no-display"):
        assert option in doc


def test_the_cell_value_is_the_result_with_a_small_thumbnail(kernel: KernelSession, emu: Emulator) -> None:
    cell = kernel.run("%%xenodia\nA red bicycle")
    assert "text/html" in mime_types(cell)
    assert "image/png" not in mime_types(cell)
    page = html(cell)
    assert "data:image/jpeg;base64," in page
    assert len(json.dumps(cell.outputs)) < 60_000
    assert "A red bicycle" in page
    assert emu.last_generation["fields"]["prompt"] == "A red bicycle"
    assert kernel.value("type(_).__name__") == "GenerationResult"
    count = cell.execution_count
    assert kernel.value(f"Out[{count}] is _") is True


def test_out_binds_the_result_and_a_trailing_semicolon_silences_it(kernel: KernelSession) -> None:
    cell = kernel.run("%%xenodia -o quiet_one\nNothing shown;")
    assert not any(o.output_type == "execute_result" for o in cell.outputs)
    assert kernel.value("quiet_one.prompt") == "Nothing shown"


def test_aspect_ratio_resolution_and_config_defaults(kernel: KernelSession) -> None:
    kernel.run("%%xenodia -a 16:9 -r 2K -o wide\nwide")
    assert kernel.value("wide.image.size") == (2048, 1152)
    kernel.run('%config XenodiaMagics.resolution = "2K"\n%config XenodiaMagics.aspect_ratio = "3:4"')
    try:
        kernel.run("%%xenodia -o tall\ntall")
        assert kernel.value("tall.image.size") == (1536, 2048)
    finally:
        kernel.run("%config XenodiaMagics.resolution = None\n%config XenodiaMagics.aspect_ratio = None")


def test_output_dir_and_preview_size_are_config_traits(kernel: KernelSession) -> None:
    kernel.run('%config XenodiaMagics.output_dir = "elsewhere"\n%config XenodiaMagics.preview_size = 96')
    try:
        cell = kernel.run("%%xenodia -o moved\nSomewhere else")
        assert kernel.value("moved.paths[0].parent.name") == "elsewhere"
        assert "max-width:96px" in html(cell)
    finally:
        kernel.run("%config XenodiaMagics.output_dir = None\n%config XenodiaMagics.preview_size = 256")


def test_prompt_interpolation_in_the_kernel(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run('product = {"name": "teapot"}\nitems = ["lamp"]')
    kernel.run("%%xenodia -o p\nA {product['name']} and a {items[0]}, styled as {\"json\": true}")
    assert emu.last_generation["fields"]["prompt"] == 'A teapot and a lamp, styled as {"json": true}'
    failed = kernel.run("%%xenodia\nA {no_such_name}", expect_error=True)
    assert "no_such_name" in error_output(failed)["evalue"]
    assert emu.stats.generate_posts == 1


def test_references_from_variables_paths_urls_and_earlier_results(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run(
        "from PIL import Image\n"
        "sketch = Image.new('RGB', (64, 48), 'navy')\n"
        "shots = [Image.new('RGBA', (32, 32), (255, 0, 0, 128))]\n"
        "sketch.save('sketch_file.png')"
    )
    kernel.run("%%xenodia -i sketch -i shots[0] -i sketch_file.png -o combo\nCombine them")
    files = emu.last_generation["files"]
    assert [f["content_type"] for f in files] == ["image/png"] * 3
    kernel.run("%%xenodia -i combo -i _\nFrom the last result")
    assert len(emu.last_generation["files"]) == 2
    kernel.run(f"%%xenodia -i {emu.cdn_url}/refs/sample.png\nFrom a URL")
    assert emu.last_generation["image_input"] == [f"{emu.cdn_url}/refs/sample.png"]


def test_n_runs_calls_at_once_into_one_result(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("%%xenodia -n 3 -o three\nThree at once")
    assert kernel.value("len(three.paths)") == 3
    assert kernel.value("len(set(three.task_ids))") == 3
    assert kernel.value("round(three.cost_usd, 2)") == 0.21
    assert emu.stats.billed_calls == 3


def test_n_with_one_failure_keeps_and_binds_the_others(kernel: KernelSession, emu: Emulator) -> None:
    emu.next_task("fail")
    failed = kernel.run("%%xenodia -n 3 -o partial\nOne of three fails", expect_error=True)
    assert error_output(failed)["ename"] == "GenerationFailedError"
    assert "2 of 3 images were saved (bound to partial)" in text(failed)
    assert kernel.value("len(partial.paths), len(set(partial.task_ids))") == (2, 2)
    assert emu.stats.billed_calls == 3


def test_one_set_of_settings_under_both_names(kernel: KernelSession) -> None:
    settings = "__import__('xenodia_jupyter.jupyter.settings', fromlist=['_']).kernel_settings()"
    magics = "get_ipython().magics_manager.registry['XenodiaMagics']"
    try:
        kernel.run('%config XenodiaSettings.resolution = "2K"')
        assert kernel.value(f"{magics}.resolution") == "2K"
        kernel.run("%config XenodiaMagics.budget_usd = 0.5")
        assert kernel.value(f"{settings}.budget_usd") == 0.5
        kernel.run("from xenodia_jupyter.jupyter.engine import kernel_client")
        assert kernel.value("kernel_client().budget_usd") == 0.5
    finally:
        kernel.run("%config XenodiaSettings.resolution = None\n%config XenodiaMagics.budget_usd = None")


def test_dry_run_shows_the_request_and_price_and_sends_nothing(kernel: KernelSession, emu: Emulator) -> None:
    cell = kernel.run("%%xenodia --dry-run -a 1:1 -r 2K -i sketch -n 2\nJust checking")
    shown = html(cell) + text(cell)
    assert "nothing sent" in shown and "0.14" in shown and "PIL image" in shown
    assert emu.stats.generate_posts == 0


def test_rule_violations_and_bad_options_fail_the_cell_before_sending(kernel: KernelSession, emu: Emulator) -> None:
    failed = kernel.run("%%xenodia -a 1:1 -r 4K\nToo big", expect_error=True)
    error = error_output(failed)
    assert error["ename"] == "InvalidRequestError"
    assert "resolution" in error["evalue"] and "4K" in error["evalue"]
    assert len(error["traceback"]) == 1, "a rule violation gets a one-line traceback"
    failed = kernel.run("%%xenodia --bogus\nx", expect_error=True)
    assert error_output(failed)["ename"] == "UsageError"
    failed = kernel.run("%xenodia dance", expect_error=True)
    assert "models, history, search, recover, panel" in error_output(failed)["evalue"]
    assert emu.stats.generate_posts == 0


def test_api_errors_fail_the_cell_with_the_servers_words(kernel: KernelSession, emu: Emulator) -> None:
    emu.inject("generate", "status", status=402)
    failed = kernel.run("%%xenodia\nNo money", expect_error=True)
    error = error_output(failed)
    assert error["ename"] == "PaymentRequiredError"
    assert "402" in error["evalue"]
    assert len(error["traceback"]) == 1
    assert "PaymentRequiredError" not in html(failed) and "402" not in text(failed)  # one error, one block


def test_timeout_fails_the_cell_and_names_the_task(kernel: KernelSession, emu: Emulator) -> None:
    emu.next_task("stuck")
    failed = kernel.run("%%xenodia --timeout 0.5\nStuck", expect_error=True)
    error = error_output(failed)
    assert error["ename"] == "TaskTimeoutError" and "task_" in error["evalue"]


def test_budget_is_a_config_trait_and_refuses_before_sending(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("from xenodia_jupyter.jupyter.engine import kernel_client\nspent = kernel_client().spent_usd")
    kernel.run("%config XenodiaMagics.budget_usd = spent + 0.10")
    try:
        kernel.run("%%xenodia\nWithin budget")
        failed = kernel.run("%%xenodia\nOne too many", expect_error=True)
        error = error_output(failed)
        assert error["ename"] == "BudgetExceededError"
        assert "budget" in error["evalue"] and "$0.07" in error["evalue"]
        dry = kernel.run("%%xenodia --dry-run\nWould it fit?", expect_error=True)
        assert error_output(dry)["ename"] == "BudgetExceededError"  # a dry run checks the budget too
        assert emu.stats.generate_posts == 1
    finally:
        kernel.run("%config XenodiaMagics.budget_usd = None")


def test_models_history_and_recover_subcommands(kernel: KernelSession, emu: Emulator) -> None:
    emu.next_task("stuck")
    kernel.run("%%xenodia --timeout 0.3\nStill going", expect_error=True)
    models = html(kernel.run("%xenodia models"))
    assert "16:9" in models and "$0.07" in models and "model discovery" in models
    history = kernel.run("%xenodia history")
    assert "data:image/jpeg;base64," in html(history)
    recovered = text(kernel.run("%xenodia recover --timeout 0.5"))
    assert "Not recovered: TaskTimeoutError" in recovered  # still running: it stays journaled


def test_background_returns_at_once_and_binds_when_done(kernel: KernelSession, emu: Emulator) -> None:
    emu.state.latency = 3.0  # long enough that the next cell surely runs before the job ends
    try:
        cell = kernel.run("%%xenodia --background -o later\nIn the background")
        assert "later" not in kernel.value("list(globals())")
    finally:
        emu.state.latency = 0.3
    kernel.run(
        "import asyncio\nfor _ in range(600):\n    if 'later' in globals(): break\n    await asyncio.sleep(0.05)"
    )
    assert kernel.value("later.prompt") == "In the background"
    assert "data:image/jpeg;base64," in html(cell), "the placeholder was replaced by the preview"


def test_a_background_job_progresses_while_a_blocking_cell_waits(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("%%xenodia --background -o bg_job\nStarted first")
    deadline = time.monotonic() + 30
    while emu.stats.billed_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    emu.inject("generate", "delay", delay=1.5)  # the blocking cell's POST takes 1.5 s
    kernel.run("%%xenodia -o fg_job\nStarted second")
    # The background task (0.3 s of polling) could only finish first if the loop kept
    # running it while the blocking cell waited.
    assert kernel.value("'bg_job' in globals() and bg_job.created_at < fg_job.created_at") is True


def test_background_errors_are_shown_in_their_placeholder(kernel: KernelSession, emu: Emulator) -> None:
    emu.inject("generate", "status", status=502)
    cell = kernel.run("%%xenodia --background -o never\nWill fail")
    kernel.run("import asyncio\nawait asyncio.sleep(1.0)")
    assert "UpstreamError" in html(cell)
    assert "never" not in kernel.value("list(globals())")


def test_the_saved_notebook_has_no_key_and_stays_small(kernel: KernelSession, tmp_path: Path) -> None:
    path = tmp_path / "session.ipynb"
    nbformat.write(kernel.nb, path)
    saved = path.read_text()
    assert KEY not in saved
    assert len(saved) < 1_000_000


def test_interrupt_then_recover_without_a_second_post(tmp_path: Path) -> None:
    with Emulator(latency=3.0, poll_interval_ms=50) as emu:
        env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "out")}
        with KernelSession(tmp_path, env) as kernel:
            kernel.run("%load_ext xenodia_jupyter")

            def interrupt_after_the_post() -> None:
                deadline = time.monotonic() + 30
                while emu.stats.billed_calls == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.2)
                kernel.interrupt()

            threading.Thread(target=interrupt_after_the_post, daemon=True).start()
            failed = kernel.run("%%xenodia -o lost\nInterrupted while waiting", expect_error=True)
            error = error_output(failed)
            assert error["ename"] == "KeyboardInterrupt"
            (line,) = error["traceback"]  # one line that says what to do, not a stack
            assert "%xenodia recover" in line and "task_" in line

            recovered = kernel.run("recovered = %xenodia recover\nrecovered")
            assert "data:image/jpeg;base64," in html(recovered)
            assert kernel.value("recovered[0].prompt") == "Interrupted while waiting"
            assert emu.stats.generate_posts == 1 and emu.stats.billed_calls == 1


# Polish: paths, prices, history, help, no key, short errors ------------------------------------


def test_paths_with_spaces_quotes_and_accents(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run(
        "from PIL import Image\n"
        "Image.new('RGB', (16, 16), 'red').save('my logo.png')\n"
        "import os; os.makedirs('shots', exist_ok=True)\n"
        "Image.new('RGB', (16, 16), 'blue').save('shots/été 1.png')"
    )
    kernel.run("%%xenodia -i 'my logo.png' -i \"shots/été 1.png\" -i my\\ logo.png -i 'shots/*.png'\nQuoted")
    assert [f["filename"] for f in emu.last_generation["files"]] == ["my logo.png", "été 1.png", "my logo.png", "été 1.png"]


def test_a_costly_cell_asks_for_yes_first(kernel: KernelSession, emu: Emulator) -> None:
    failed = kernel.run("%%xenodia -n 20\nTwenty at once", expect_error=True)
    evalue = error_output(failed)["evalue"]
    assert "$1.40" in evalue and "--yes" in evalue and "confirm_above_usd" in evalue
    assert emu.stats.generate_posts == 0
    kernel.run("%config XenodiaMagics.confirm_above_usd = 0.10")
    try:
        kernel.run("%%xenodia -n 2 --yes -o two\nTwo, confirmed")
        assert emu.stats.billed_calls == 2
    finally:
        kernel.run("%config XenodiaMagics.confirm_above_usd = 1.0")


def test_history_takes_a_limit_or_all_and_marks_failures(kernel: KernelSession, emu: Emulator) -> None:
    emu.inject("generate", "status", status=402)
    kernel.run("%%xenodia\nRefused for money", expect_error=True)
    shown = kernel.run("%xenodia history 2")
    page = html(shown)
    assert page.count("<tr>") == 3  # a header and two rows
    assert "Refused for money" in page and "refused (not billed)" in page
    everything = html(kernel.run("%xenodia history --all"))
    assert everything.count("<tr>") > 3 and "data:image/jpeg;base64," in everything
    kernel.run("%xenodia history zero", expect_error=True)


def test_history_limit_counts_saved_results(kernel: KernelSession, emu: Emulator) -> None:
    emu.inject("generate", "status", status=502)
    kernel.run("%%xenodia\nNot saved", expect_error=True)
    assert kernel.value("len(__import__('xenodia_jupyter').history(limit=3))") == 3


def test_help_documents_interpolation_settings_and_the_budget(kernel: KernelSession) -> None:
    doc = text(kernel.run("print(get_ipython().find_cell_magic('xenodia').__doc__)"))
    for words in ("{name}", "{{name}}", "trailing `;`", "%config XenodiaMagics.budget_usd", "confirm_above_usd", "--yes"):
        assert words in doc, words


def test_a_dry_run_needs_no_key_and_says_default(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("import os\n_key = os.environ.pop('XENODIA_API_KEY')")
    try:
        cell = kernel.run("%%xenodia --dry-run\nJust looking")
        shown = html(cell)
        assert "nothing sent" in shown and "default" in shown and "None" not in shown
    finally:
        kernel.run("os.environ['XENODIA_API_KEY'] = _key")
    assert emu.stats.generate_posts == 0


def test_an_error_from_the_python_api_is_one_short_block(kernel: KernelSession) -> None:
    failed = kernel.run("import xenodia_jupyter as xj\nxj.generate('x', aspect_ratio='1:1', resolution='4K')", expect_error=True)
    error = error_output(failed)
    assert error["ename"] == "InvalidRequestError"
    (block,) = error["traceback"]
    assert "resolution" in block and "%tb" in block and "File " not in block
    shown = kernel.run("%tb")
    full = "\n".join(line for o in shown.outputs if o.output_type == "error" for line in o.traceback) + text(shown)
    assert "check_parameters" in full, "%tb shows the whole traceback"


def test_cache_makes_running_a_cell_again_free(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("%%xenodia --cache -n 2 -o first_run\nCached twice")
    assert emu.stats.billed_calls == 2
    kernel.run("%%xenodia --cache -n 2 -o second_run\nCached twice")
    assert emu.stats.billed_calls == 2
    assert kernel.value("second_run.cached, second_run.cost_usd, second_run.paths == first_run.paths") == (True, 0.0, True)
    kernel.run("%%xenodia --cache -n 3 -o third_run\nCached twice")  # a third variant is new
    assert emu.stats.billed_calls == 3


def test_jobs_subcommand_lists_the_folders_jobs(kernel: KernelSession, emu: Emulator) -> None:
    kernel.run("import xenodia_jupyter as xj\n_r = xj.generate_many(['j1', 'j2'], job='from-the-kernel')")
    shown = text(kernel.run("%xenodia jobs"))
    assert "from-the-kernel" in shown and "$0.14" in shown


def test_a_batch_in_a_kernel_shows_its_progress_bar(kernel: KernelSession, emu: Emulator) -> None:
    cell = kernel.run("import xenodia_jupyter as xj\nbatch = xj.generate_many(['p1', 'p2', 'p3'], concurrency=2)")
    assert "application/vnd.jupyter.widget-view+json" in mime_types(cell)
    kernel.run(
        "from ipywidgets.widgets.widget import _instances\n"
        "bars = [w for w in _instances.values() if 'xenodia-batch-progress' in getattr(w, '_dom_classes', ())]"
    )
    assert kernel.value("bars[-1].children[0].value, bars[-1].children[0].bar_style") == (3, "success")
    assert "3/3" in kernel.value("bars[-1].children[1].value")


def test_a_sweep_from_the_magic(kernel: KernelSession, emu: Emulator) -> None:
    emu.inject("generate", "status", status=502)
    cell = kernel.run('%%xenodia --sweep animal=fox,owl --sweep "style=ink wash,origami,pixel art" -o grid\nA {animal} in {style}')
    page = html(cell)
    assert "xenodia-sweep" in page and "UpstreamError" in page and page.count("data:image/jpeg;base64,") == 5
    assert kernel.value("list(grid.to_pandas().columns[:2]), len(grid.results)") == (["animal", "style"], 6)
    posts = emu.stats.generate_posts
    dry = kernel.run("%%xenodia --dry-run --sweep animal=fox,owl -a 1:1,16:9\nA {animal}")
    assert "$0.28" in text(dry) and emu.stats.generate_posts == posts


def test_one_spend_per_kernel_whichever_way_it_was_spent(kernel: KernelSession, emu: Emulator) -> None:
    """xj.generate in a cell and %%xenodia draw on the same session budget, so
    the panel's "spent this session" counts both."""
    kernel.run("import xenodia_jupyter as xj\nfrom xenodia_jupyter.jupyter.engine import session_budget\n"
               "before = session_budget().spent_usd")
    kernel.run("_r = xj.generate('spent from Python')")
    kernel.run("%%xenodia -o _m\nspent from the magic")
    assert kernel.value("round(session_budget().spent_usd - before, 2)") == 0.14
    assert kernel.value("xj.default_client().budget is session_budget()") is True


def test_a_saved_notebook_reads_well_without_a_kernel(kernel: KernelSession, emu: Emulator) -> None:
    """A reopened notebook (or GitHub, nbviewer, an HTML export) shows words,
    not `HBox(children=(IntProgress(...` or `<xenodia Panel: ...>`."""
    batch = kernel.run("import xenodia_jupyter as xj\n_b = xj.generate_many(['saved one', 'saved two'], progress=True)")
    shown = [o for o in batch.outputs if o.output_type == "display_data"]
    assert shown, batch.outputs
    plain = shown[-1].data["text/plain"]
    assert plain.startswith("xenodia batch: 2/2") and "HBox" not in plain, plain
    assert "xenodia-batch-saved" in shown[-1].data["text/html"]
    panel = kernel.run("xj.panel()")
    [out] = [o for o in panel.outputs if o.output_type == "execute_result"]
    assert out.data["text/plain"] == "The Xenodia panel: run this cell to open it."
    assert "application/vnd.jupyter.widget-view+json" in out.data  # the live widget, where there is a kernel
