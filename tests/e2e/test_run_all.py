"""Run All, the way a front end sends it: every cell at once.

nbclient waits for each reply before sending the next cell, which hid a
magic that re-entered the kernel's loop and dropped every cell queued behind
it.  These tests send the cells together (`frontend.Frontend`), on the newest
ipykernel and on ipykernel 6.29 (a second venv that `make test` builds; its
python is named by XENODIA_IPYKERNEL6_PYTHON).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from frontend import Frontend

from xenodia_jupyter.emulator import Emulator

KEY = "run-all-test-secret-key-c0ffee"


def _kernel_pythons() -> list[object]:
    other = os.environ.get("XENODIA_IPYKERNEL6_PYTHON")
    six = pytest.param((other, "6.29"), id="ipykernel-6.29")
    if not other:
        unset = pytest.mark.skip(reason="XENODIA_IPYKERNEL6_PYTHON unset (make test sets it)")
        six = pytest.param((None, "6.29"), id="ipykernel-6.29", marks=unset)
    return [pytest.param((None, "7."), id="ipykernel-7"), six]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.3, poll_interval_ms=30, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture(params=_kernel_pythons())
def frontend(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[Frontend]:
    python, version = request.param
    if python is not None and not Path(python).exists():
        pytest.fail(f"XENODIA_IPYKERNEL6_PYTHON={python} does not exist (make test builds it)")
    emu.reset()
    emu.state.latency = 0.3
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "out")}
    with Frontend(tmp_path, env, kernel_python=python) as fe:
        (first,) = fe.run_all(["import ipykernel; print(ipykernel.__version__)"])
        assert first.text.startswith(version), f"wanted ipykernel {version}, the kernel runs {first.text}"
        yield fe
        assert KEY not in fe.all_text()


def assert_every_cell_ran(runs: list, fe: Frontend) -> None:  # type: ignore[type-arg]
    for run in runs:
        assert run.status == "ok", run
        assert run.execution_count is not None, run
    assert fe.loop_trouble() == [], fe.all_text()[-3000:]


FIRST_MAGICS = {
    "generate": "%%xenodia -o first\nA cat on a mat",
    "dry-run": "%%xenodia --dry-run\nA cat on a mat",
    "background": "%%xenodia --background -o first\nA cat on a mat",
    "n-3": "%%xenodia -n 3 -o first\nThree cats",
    "models": "%xenodia models",
    "history": "%xenodia history",
    "recover": "%xenodia recover",
    "panel": "%xenodia panel",
}


@pytest.mark.parametrize("first_magic", list(FIRST_MAGICS))
def test_cells_queued_behind_the_first_magic_all_run(frontend: Frontend, first_magic: str, emu: Emulator) -> None:
    runs = frontend.run_all(
        [
            "%load_ext xenodia_jupyter",
            FIRST_MAGICS[first_magic],
            "x = 41 + 1",
            "%%xenodia -o second\nQueued behind it",
            "print(x, type(second).__name__)",
        ]
    )
    assert_every_cell_ran(runs, frontend)
    assert runs[-1].text.strip() == "42 GenerationResult"
    assert emu.last_generation["fields"]["prompt"] == "Queued behind it" or first_magic == "background"


def test_a_background_job_finishes_and_binds_while_another_cell_sleeps(frontend: Frontend, emu: Emulator) -> None:
    runs = frontend.run_all(
        [
            "%load_ext xenodia_jupyter",
            "%%xenodia --background -o bg\nWhile you wait",
            # The main thread never yields to the kernel's loop here (time.sleep, no await):
            # a job that only moved while that loop turned would never be bound.
            "import time\nend = time.monotonic() + 90\n"
            "while 'bg' not in globals() and time.monotonic() < end:\n    time.sleep(0.1)\n"
            "print('bound during the sleep:', 'bg' in globals())",
        ]
    )
    assert_every_cell_ran(runs, frontend)
    assert "bound during the sleep: True" in runs[2].text
    assert "data:image/jpeg;base64," in runs[1].html, "the placeholder was replaced by the preview"
    assert emu.stats.billed_calls == 1


def test_a_panel_job_finishes_while_another_cell_sleeps(frontend: Frontend, emu: Emulator) -> None:
    runs = frontend.run_all(
        [
            "import xenodia_jupyter as xj\npanel = xj.panel()",
            "panel.prompt.value = 'From the panel'\npanel.generate_button.click()",
            "import time\nend = time.monotonic() + 90\n"
            "done = lambda: panel.results and not any(j.running for j in panel.jobs) and 'running' not in panel.price.value\n"
            "while not done() and time.monotonic() < end:\n    time.sleep(0.1)\n"
            "print(len(panel.results), sum(j.running for j in panel.jobs), 'running' in panel.price.value)",
        ]
    )
    assert_every_cell_ran(runs, frontend)
    assert runs[2].text.split() == ["1", "0", "False"], runs[2].text
    assert emu.last_generation["fields"]["prompt"] == "From the panel"


def test_an_interrupt_in_the_middle_of_a_queue(frontend: Frontend, emu: Emulator) -> None:
    emu.state.latency = 3.0
    runs = frontend.send(
        ["%load_ext xenodia_jupyter", "%%xenodia -o lost\nInterrupted while waiting", "after = 'ran'"]
    )
    frontend.wait_for(lambda: emu.stats.billed_calls == 1, 60, "the POST")
    frontend.pump(0.3)
    frontend.interrupt()
    frontend.wait_for(lambda: all(r.status is not None and r.idle for r in runs), 60, "every reply")
    magic, queued = runs[1], runs[2]
    assert magic.status == "error" and magic.error is not None
    assert magic.error["ename"] == "KeyboardInterrupt"
    (line,) = magic.error["traceback"]  # one short line, not a traceback
    assert "task_" in line and "%xenodia recover" in line
    assert queued.status in ("aborted", "error"), "Run All stops at an interrupted cell, as it does for any cell"
    assert frontend.loop_trouble() == []

    (recovered,) = frontend.run_all(["recovered = %xenodia recover\nprint(recovered[0].prompt)"])
    assert recovered.status == "ok", recovered
    assert "Interrupted while waiting" in recovered.text
    assert emu.stats.generate_posts == 1 and emu.stats.billed_calls == 1


def test_unloading_leaves_no_thread_or_socket_and_loading_again_works(frontend: Frontend) -> None:
    probe = (
        "import os, threading\n"
        "def probe():\n"
        "    sockets = 0\n"
        "    for fd in os.listdir('/proc/self/fd'):\n"
        "        try:\n"
        "            sockets += os.readlink(f'/proc/self/fd/{fd}').startswith('socket:')\n"
        "        except OSError:  # the listing's own descriptor, closed by now\n"
        "            pass\n"
        "    threads = sorted(t.name for t in threading.enumerate() if t.name.startswith('xenodia'))\n"
        "    return sockets, threads\n"
        "before = probe()"
    )
    runs = frontend.run_all(
        [
            probe,
            "%load_ext xenodia_jupyter",
            "%%xenodia -o one\nBefore unloading",
            "during = probe()\n%unload_ext xenodia_jupyter\nafter = probe()\nprint(repr((before, during, after)))",
            "%load_ext xenodia_jupyter",
            "%%xenodia -o two\nAfter loading again",
            "print(type(two).__name__)",
        ]
    )
    assert_every_cell_ran(runs, frontend)
    before, during, after = ast.literal_eval(runs[3].text)  # three (sockets, threads) pairs
    assert during[1] == ["xenodia-engine"] and during[0] > before[0]
    assert after == before, "a thread or a socket was left behind"
    assert runs[-1].text.strip() == "GenerationResult"


def test_a_cell_sees_progress_drawn_while_it_waits(frontend: Frontend, emu: Emulator) -> None:
    emu.state.latency = 2.5
    runs = frontend.run_all(["%load_ext xenodia_jupyter", "%%xenodia --no-display -o slow\nTakes a while"])
    assert_every_cell_ran(runs, frontend)
    updates = [t for t in frontend.iopub_text if "xenodia-progress" in t and "generating" in t]
    assert updates, "no progress was drawn while the cell waited"
    # ... into one display, updated in place, not a new output per state:
    assert sum("xenodia-progress" in (o.get("data") or {}).get("text/html", "") for o in runs[1].outputs) <= 1


def test_an_interrupted_python_call_names_its_task(frontend: Frontend, emu: Emulator) -> None:
    emu.state.latency = 3.0
    runs = frontend.send(["import xenodia_jupyter as xj", "r = xj.generate('Interrupted from Python')"])
    frontend.wait_for(lambda: emu.stats.billed_calls == 1, 60, "the POST")
    frontend.pump(0.3)
    frontend.interrupt()
    frontend.wait_for(lambda: all(r.status is not None and r.idle for r in runs), 60, "every reply")
    error = runs[1].error
    assert error is not None and error["ename"] == "KeyboardInterrupt"
    (line,) = error["traceback"]
    assert "task_" in line and "xj.recover()" in line
    (recovered,) = frontend.run_all(["print(xj.recover(timeout=30)[0].prompt)"])
    assert "Interrupted from Python" in recovered.text
    assert emu.stats.generate_posts == 1
