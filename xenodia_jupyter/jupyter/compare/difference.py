"""The compare view's picture work, with Pillow only (no widgets): previews
at a bounded size, and the per-pixel difference of two of them as a heat map.

    im = open_preview(path_or_bytes_or_image, 640)   # RGB, at most 640 px on a side
    jpeg(im)                                         # its bytes, to send to the browser
    heat, stats = heat_map(left, right)              # RGB heat map, and how much differs
    legend()                                         # the colour map as a small strip

The difference is taken between the previews, not the files: both are shrunk
the same way, so the map shows what differs at the size it is looked at, and
a 4K file is decoded once, never sent.  Each pixel's value is its largest
channel difference; the colour map runs from dark (the same) to pale yellow
(black against white) on a square-root scale, so that small differences show.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from ...images.thumbnails import check_pixels

if TYPE_CHECKING:
    from PIL import Image

Source = Union[str, "os.PathLike[str]", bytes, "Image.Image"]

VIEW_PX = 640  # the pictures the view starts with
LARGE_PX = 1536  # sent only when the view is zoomed past the preview; never the full 4K file
JPEG_QUALITY = 88  # comparing shows JPEG's blocks at 80
CHANGED = 26  # a pixel "differs" when a channel moved by more than 10 % of 255

# A perceptual dark-to-light ramp (after matplotlib's "inferno"): stops on 0..1.
_STOPS = (
    (0.0, (0, 0, 4)),
    (0.25, (87, 16, 110)),
    (0.5, (188, 55, 84)),
    (0.75, (249, 142, 9)),
    (1.0, (252, 255, 164)),
)


def fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """`size` shrunk (never grown) so that its longer side is at most `longest`."""
    width, height = size
    scale = min(1.0, longest / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def open_preview(source: Source, longest: int) -> Image.Image:
    """An RGB copy of `source` at most `longest` px on a side (transparency over
    white), decoding as little of a large file as Pillow allows."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return _shrink(source, longest)
    file = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(file) as im:
        check_pixels(im, source if isinstance(source, (str, os.PathLike)) else "the image")
        im.draft("RGB", (longest, longest))
        return _shrink(im, longest)


def _shrink(im: Image.Image, longest: int) -> Image.Image:
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.new("RGB", rgba.size, "white")
        im.paste(rgba, mask=rgba.getchannel("A"))
    elif im.mode != "RGB":
        im = im.convert("RGB")
    factor = max(1, min(im.size) // (longest * 2))
    small = im.reduce(factor) if factor > 1 else im.copy()
    if max(small.size) > longest:
        small = small.resize(fit(small.size, longest), Image.Resampling.LANCZOS)
    return small


def jpeg(im: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


# The difference ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DifferenceStats:
    """How much two previews differ: the mean and largest per-pixel difference
    (0 to 1), the share of pixels that differ by more than 10 %, and whether
    the second had to be stretched to the first's shape."""

    mean: float
    largest: float
    changed: float
    stretched: bool

    def describe(self) -> str:
        if self.largest == 0:
            text = "identical at this size"
        else:
            text = f"mean difference {self.mean:.1%} · {self.changed:.0%} of pixels differ by more than 10 %"
        if self.stretched:
            text += " · different shapes: the right one is stretched to the left one's"
        return text


def same_size(left: Image.Image, right: Image.Image) -> tuple[Image.Image, Image.Image, bool]:
    """`right` resized to `left`'s size if it differs; the flag says whether
    its shape (not only its scale) had to change."""
    from PIL import Image

    if left.size == right.size:
        return left, right, False
    (lw, lh), (rw, rh) = left.size, right.size
    stretched = abs(lw / lh - rw / rh) > 0.01 * (lw / lh)
    return left, right.resize(left.size, Image.Resampling.BILINEAR), stretched


def difference_map(left: Image.Image, right: Image.Image) -> tuple[Image.Image, DifferenceStats]:
    """The per-pixel difference (mode L: each pixel's largest channel difference)
    and its numbers."""
    from PIL import ImageChops

    left, right, stretched = same_size(left.convert("RGB"), right.convert("RGB"))
    red, green, blue = ImageChops.difference(left, right).split()
    strongest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    histogram = strongest.histogram()
    total = max(1, sum(histogram))
    mean = sum(value * count for value, count in enumerate(histogram)) / total / 255
    largest = max((value for value, count in enumerate(histogram) if count), default=0) / 255
    changed = sum(histogram[CHANGED + 1 :]) / total
    return strongest, DifferenceStats(mean, largest, changed, stretched)


def heat_map(left: Image.Image, right: Image.Image) -> tuple[Image.Image, DifferenceStats]:
    """The difference of two previews as an RGB heat map the size of `left`."""
    from PIL import Image

    strongest, stats = difference_map(left, right)
    scaled = strongest.point([round((v / 255) ** 0.5 * 255) for v in range(256)])
    red, green, blue = _ramp()
    return Image.merge("RGB", [scaled.point(red), scaled.point(green), scaled.point(blue)]), stats


def legend(width: int = 160, height: int = 10) -> Image.Image:
    """The colour map from "the same" (left) to "black against white" (right)."""
    from PIL import Image

    red, green, blue = _ramp()
    row = [(red[i], green[i], blue[i]) for i in (round(x * 255 / (width - 1)) for x in range(width))]
    strip = Image.new("RGB", (width, height))
    strip.putdata(row * height)
    return strip


def _ramp() -> tuple[list[int], list[int], list[int]]:
    """The colour map as three 256-entry lookup tables (for `Image.point`)."""
    channels: tuple[list[int], list[int], list[int]] = ([], [], [])
    for value in range(256):
        t = value / 255
        for (t0, c0), (t1, c1) in zip(_STOPS, _STOPS[1:], strict=False):
            if t <= t1:
                share = (t - t0) / (t1 - t0)
                for channel, a, b in zip(channels, c0, c1, strict=True):
                    channel.append(round(a + (b - a) * share))
                break
    return channels
