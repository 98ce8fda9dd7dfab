"""The compare view's kernel side, without a browser: the Pillow work
(previews, the difference heat map), and `CompareView`'s messages, modes and
bounded pictures, with results made by the emulator over loopback.

What a browser does is simulated the way it reaches the kernel: a custom
message (`_handle_custom_msg`) or a trait set from the front end (`set_state`).
What the view sends back is recorded by a subclass's `send`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from xenodia_jupyter import Client
from xenodia_jupyter.core.results import GenerationResult
from xenodia_jupyter.jupyter.compare import CompareView
from xenodia_jupyter.jupyter.compare.difference import (
    LARGE_PX,
    VIEW_PX,
    DifferenceStats,
    fit,
    heat_map,
    legend,
    open_preview,
)
from xenodia_jupyter.jupyter.panel.compare import differences


class RecordingView(CompareView):
    """A CompareView whose messages to the browser are kept in `sent`."""

    def send(self, content: Any, buffers: Any = None) -> None:
        self.sent.append((content, [bytes(b) for b in buffers or []]))

    @property
    def sent(self) -> list[tuple[dict[str, Any], list[bytes]]]:
        if "_sent" not in self.__dict__:
            self.__dict__["_sent"] = []
        return self.__dict__["_sent"]  # type: ignore[no-any-return]

    def kinds(self) -> list[str]:
        return [content["kind"] for content, _ in self.sent]

    def last(self, kind: str) -> tuple[dict[str, Any], list[bytes]]:
        return next(m for m in reversed(self.sent) if m[0]["kind"] == kind)


def browser_says(view: CompareView, **content: Any) -> None:
    view._handle_custom_msg(content, [])
    view.wait()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def picture(path: Path, size: tuple[int, int], colour: Any = "white", square: Any = None) -> GenerationResult:
    image = Image.new("RGB", size, colour)
    if square is not None:
        ImageDraw.Draw(image).rectangle(square, fill="black")
    image.save(path)
    return GenerationResult(prompt=path.stem, urls=[], paths=[path])


@pytest.fixture
def three(client: Client) -> list[GenerationResult]:
    """Three real results from the emulator (1024 px squares, drawn from their prompts)."""
    prompts = ("A red lighthouse at dusk", "A blue lighthouse at dawn", "A green lighthouse in fog")
    return [client.generate(p, aspect_ratio="1:1", resolution="1K") for p in prompts]


# The Pillow work ------------------------------------------------------------------------------


def test_previews_are_bounded_and_never_grown(tmp_path: Path) -> None:
    assert fit((3840, 2160), VIEW_PX) == (VIEW_PX, 360)
    assert fit((300, 200), VIEW_PX) == (300, 200)
    big = picture(tmp_path / "big.png", (3840, 2160))
    assert open_preview(big.paths[0], VIEW_PX).size == (VIEW_PX, 360)
    assert open_preview(big.paths[0], LARGE_PX).size == (LARGE_PX, 864)
    rgba = Image.new("RGBA", (40, 30), (0, 0, 0, 0))  # transparent: laid over white
    assert open_preview(rgba, VIEW_PX).getpixel((5, 5)) == (255, 255, 255)


def test_the_heat_map_is_dark_where_the_same_and_bright_where_it_differs(tmp_path: Path) -> None:
    white = Image.new("RGB", (200, 100), "white")
    marked = white.copy()
    ImageDraw.Draw(marked).rectangle((0, 0, 49, 99), fill="black")  # a quarter turned black
    heat, stats = heat_map(white, marked)
    assert heat.size == (200, 100) and heat.mode == "RGB"
    brightest, darkest = legend().getpixel((159, 0)), legend().getpixel((0, 0))
    assert heat.getpixel((10, 50)) == brightest and heat.getpixel((150, 50)) == darkest
    assert stats.changed == pytest.approx(0.25) and stats.largest == 1.0 and stats.mean == pytest.approx(0.25)
    assert "25%" in stats.describe()
    same, nothing = heat_map(white, white.copy())
    assert nothing == DifferenceStats(0.0, 0.0, 0.0, False) and nothing.describe() == "identical at this size"
    assert same.getextrema() == ((darkest[0], darkest[0]), (darkest[1], darkest[1]), (darkest[2], darkest[2]))


def test_a_different_shape_is_stretched_and_said_so() -> None:
    _, stats = heat_map(Image.new("RGB", (200, 100), "white"), Image.new("RGB", (100, 100), "white"))
    assert stats.stretched and "stretched" in stats.describe()
    _, scaled = heat_map(Image.new("RGB", (200, 100), "white"), Image.new("RGB", (400, 200), "white"))
    assert not scaled.stretched  # only the scale differed


# The view ------------------------------------------------------------------------------------


def test_the_pair_on_screen_travels_as_buffers_never_in_the_widget_state(three: list[GenerationResult]) -> None:
    view = RecordingView(three)
    view.wait()
    content, buffers = view.last("pictures")
    assert content["pair"] == [0, 1] and content["px"] == VIEW_PX and len(buffers) == 2
    for data in buffers:
        image = decoded(data)
        assert image.format == "JPEG" and max(image.size) == VIEW_PX  # a preview of the 1024 px file
    assert view.shown == {"left": buffers[0], "right": buffers[1]}
    state = view.get_state()
    assert not any(isinstance(v, (bytes, bytearray, memoryview)) for v in state.values())
    assert view.titles == [r.prompt for r in three]
    kept = {k: v for k, v in state.items() if k not in ("_esm", "_css")}
    assert len(json.dumps(kept)) < 2_000  # the prompts and a few numbers
    data, _ = view._repr_mimebundle_()
    assert data["text/plain"] == "CompareView of 3 results; run the cell to compare them"  # read without a kernel
    view.close()


def test_arrows_step_the_right_side_and_pin_swaps_the_baseline(three: list[GenerationResult]) -> None:
    view = RecordingView(three)
    browser_says(view, event="step", by=1)
    assert (view.baseline, view.current) == (0, 2) and view.last("pictures")[0]["pair"] == [0, 2]
    browser_says(view, event="step", by=1)  # past the end: back to the first that is not the baseline
    assert (view.baseline, view.current) == (0, 1)
    browser_says(view, event="step", by=-1)
    assert view.current == 2
    browser_says(view, event="pin")  # the right one becomes the baseline, the old baseline goes right
    assert (view.baseline, view.current) == (2, 0) and view.last("pictures")[0]["pair"] == [2, 0]
    browser_says(view, event="show", index=1)
    assert view.current == 1
    browser_says(view, event="show", index=2)  # the baseline itself: nothing changes
    assert (view.baseline, view.current) == (2, 1)
    sent = len(view.sent)
    browser_says(view, event="ready")  # a view drawn again gets the pictures again
    assert len(view.sent) == sent + 1 and view.last("pictures")[0]["pair"] == [2, 1]
    view.close()


def test_the_difference_view_gets_a_heat_map_of_the_two_previews(three: list[GenerationResult]) -> None:
    view = RecordingView(three, baseline=1)
    view.wait()
    assert "difference" not in view.kinds()  # made only when asked for
    view.set_state({"mode": "difference"})  # what the browser's mode button does
    view.wait()
    content, (heat, legend_png) = view.last("difference")
    assert content["pair"] == [1, 2]  # the baseline, and the one after it
    left = decoded(view.shown["left"])
    assert decoded(heat).size == left.size and decoded(legend_png).format == "PNG"
    assert view.shown["difference"] == heat
    assert view.note.startswith("mean difference")
    view.step(1)  # a new pair in difference mode: its pictures and its difference
    view.wait()
    assert view.kinds()[-2:] == ["pictures", "difference"] and view.last("difference")[0]["pair"] == [1, 0]
    view.close()


def test_flip_split_and_zoom_are_traits_the_browser_sets_within_bounds(three: list[GenerationResult]) -> None:
    view = RecordingView(three)
    view.flip()
    assert view.mode == "flip" and view.flipped
    view.flip()
    assert not view.flipped
    view.set_state({"split": 1.7, "zoom": 40.0})
    assert view.split == 1.0 and view.zoom == 16.0
    view.set_state({"split": -1, "zoom": 0.2})
    assert view.split == 0.0 and view.zoom == 1.0
    with pytest.raises(Exception, match="mode"):
        view.mode = "blend"
    view.close()


def test_zooming_past_the_preview_fetches_a_larger_one_never_the_full_file(tmp_path: Path) -> None:
    results = [
        picture(tmp_path / "a.png", (3840, 2160)),
        picture(tmp_path / "b.png", (3840, 2160), square=(0, 0, 1919, 2159)),
    ]
    view = RecordingView(results)
    view.wait()
    assert [decoded(b).size for b in view.last("pictures")[1]] == [(VIEW_PX, 360)] * 2
    view.set_state({"zoom": 3.0})  # the browser zoomed: nothing is fetched until it asks
    view.wait()
    assert view.last("pictures")[0]["px"] == VIEW_PX
    view.set_state({"mode": "difference"})
    browser_says(view, event="larger")
    assert view.picture_px == LARGE_PX
    content, buffers = view.last("pictures")
    assert content["px"] == LARGE_PX and [decoded(b).size for b in buffers] == [(LARGE_PX, 864)] * 2
    assert decoded(view.last("difference")[1][0]).size == (LARGE_PX, 864)  # the difference follows
    assert view.note.startswith("mean difference 50")  # half of it turned black
    browser_says(view, event="larger")  # asked twice: no bigger than LARGE_PX
    view.picture_px = 10_000
    assert view.picture_px == LARGE_PX
    view.set_state({"zoom": 1.0})
    view.pin()  # a new pair (the two swapped), not zoomed: previews again
    view.wait()
    assert view.picture_px == VIEW_PX and view.last("pictures")[0]["px"] == VIEW_PX
    view.close()


def test_new_results_keep_a_baseline_that_is_still_among_them(three: list[GenerationResult]) -> None:
    view = RecordingView(three[:2], baseline=1)
    view.results = [three[2], *three[:2]]
    assert (view.baseline, view.current) == (2, 1)  # the same two results, at their new places
    view.results = [three[2], three[0]]  # the baseline went: the first is the baseline now
    assert (view.baseline, view.current) == (0, 1)
    view.results = [three[0]]
    view.wait()
    assert view.kinds()[-1] == "clear" and view.shown == {}
    view.close()


def test_an_unreadable_file_is_said_in_the_view(tmp_path: Path) -> None:
    good = picture(tmp_path / "good.png", (64, 64))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    view = RecordingView([good, GenerationResult(prompt="broken", urls=[], paths=[broken])])
    view.wait()
    assert view.kinds()[-1] == "error" and view.note.startswith("could not show this pair")
    view.close()


def test_the_panel_table_lists_only_the_parameters_that_differ(tmp_path: Path) -> None:
    a = picture(tmp_path / "a.png", (8, 8))
    b = picture(tmp_path / "b.png", (8, 8))
    a.aspect_ratio, b.aspect_ratio = "1:1", "16:9"
    assert differences([a, b]) == [("prompt", ["a", "b"]), ("aspect ratio", ["1:1", "16:9"])]
