"""A batch's progress: counts, spend, rate and ETA, in text outside a kernel."""

from __future__ import annotations

import io

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.batches.progress import TextProgress, make_progress
from xenodia_jupyter.emulator import Emulator


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_text_line_counts_and_prices(emu: Emulator, client: xj.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    emu.inject("generate", "status", status=402)
    shown = TextProgress(3, stream=Terminal())
    client.generate_many(["a", "b", "c"], concurrency=1, progress=shown)
    text = shown.stream.getvalue()
    assert "\r" in text  # redrawn in place
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("3/3 · 1 failed · 0 running · $0.14"), last


@pytest.mark.parametrize("term", ["dumb", None])
def test_a_dumb_or_piped_output_gets_one_line_at_the_end(
    emu: Emulator, client: xj.Client, monkeypatch: pytest.MonkeyPatch, term: str | None
) -> None:
    stream: io.StringIO = Terminal() if term == "dumb" else io.StringIO()
    if term:
        monkeypatch.setenv("TERM", term)
    shown = TextProgress(2, stream=stream)
    client.generate_many(["a", "b"], progress=shown)
    assert "\r" not in stream.getvalue() and stream.getvalue().count("\n") == 1
    assert stream.getvalue().startswith("2/2 · 0 failed")


def test_outside_a_kernel_progress_is_off_unless_asked() -> None:
    assert make_progress(None, 5) is None
    assert isinstance(make_progress(True, 5), TextProgress)


@pytest.mark.parametrize("call", ["generate_many", "sweep"])
def test_a_batch_refused_before_it_starts_takes_its_progress_bar_away(emu: Emulator, client: xj.Client, call: str) -> None:
    from xenodia_jupyter.jupyter.progress_bar import WidgetProgress

    bar = WidgetProgress(4)
    assert bar.box.comm is not None
    with pytest.raises(xj.InvalidRequestError, match="aspect_ratio"):
        if call == "generate_many":
            client.generate_many(["a", "b", "c", "d"], progress=bar, aspect_ratio="5:4")
        else:
            client.sweep("a {x}", x=["1", "2"], aspect_ratio=["1:1", "5:4"], progress=bar)
    assert bar.box.comm is None and bar.bar.comm is None, "an empty 0/4 bar was left in the notebook"
    assert emu.stats.generate_posts == 0
