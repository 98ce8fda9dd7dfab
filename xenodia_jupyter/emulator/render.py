"""The emulator's images: real PNGs drawn with Pillow.

`render_image` paints what a request asked for at the size its aspect ratio
and resolution call for: a gentle gradient in colours drawn from a hash of the
prompt, the prompt itself in legible text, and every uploaded reference as a
thumbnail.  It is CPU work: the app runs it in a worker thread, once per
task, halfway through the task.

`sample_reference` makes the small images the CDN origin serves under
`/refs/` so that tests have URLs of every type to play with.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .contract import image_size

__all__ = ["render_image", "sample_reference", "SAMPLE_TYPES"]

SAMPLE_TYPES: dict[str, tuple[str, str]] = {
    # name -> (Pillow format, media type)
    "sample.png": ("PNG", "image/png"),
    "sample.jpg": ("JPEG", "image/jpeg"),
    "sample.webp": ("WEBP", "image/webp"),
    "sample.gif": ("GIF", "image/gif"),
}
_MAX_TEXT_LINES = 10
_RGB = tuple[int, int, int]


def render_image(prompt: str, aspect_ratio: str | None, resolution: str | None, references: list[bytes]) -> bytes:
    """A PNG of `contract.image_size(aspect_ratio, resolution)` showing the prompt and the references."""
    width, height = image_size(aspect_ratio, resolution)
    top, bottom = prompt_colours(prompt)
    image = _gradient((width, height), top, bottom)
    margin = max(8, height // 40)
    refs_bottom = _paste_references(image, references, margin)
    _draw_prompt(image, prompt, top_limit=refs_bottom + margin, margin=margin)
    _draw_label(
        image, f"gpt-image-2 emulator · {aspect_ratio or 'auto'} · {resolution or '1K'} · {width}x{height}", margin
    )
    return png_bytes(image)


def png_bytes(image: Image.Image) -> bytes:
    """`image` as PNG at zlib level 1: half the time of Pillow's default level on these
    images (the files are larger, which matters less), so a burst of renders stays short."""
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def prompt_colours(prompt: str) -> tuple[_RGB, _RGB]:
    """Two related colours (top, bottom of the gradient) drawn from a hash of the prompt."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    hue = digest[0] / 255
    shift = 0.06 + digest[1] / 255 * 0.12
    light = 0.35 + digest[2] / 255 * 0.3
    top = colorsys.hls_to_rgb(hue, light, 0.55)
    bottom = colorsys.hls_to_rgb((hue + shift) % 1.0, max(0.15, light - 0.15), 0.6)
    return _to_rgb(top), _to_rgb(bottom)


def _to_rgb(colour: tuple[float, float, float]) -> _RGB:
    r, g, b = (round(c * 255) for c in colour)
    return (r, g, b)


def _gradient(size: tuple[int, int], top: _RGB, bottom: _RGB) -> Image.Image:
    """A vertical gradient: one column drawn, then repeated across (nearest
    neighbour), which is ten times cheaper than interpolating the whole image."""
    width, height = size
    mask = Image.linear_gradient("L").resize((1, height), Image.Resampling.BILINEAR)
    column = Image.composite(Image.new("RGB", (1, height), bottom), Image.new("RGB", (1, height), top), mask)
    return column.resize(size, Image.Resampling.NEAREST)


def _paste_references(image: Image.Image, references: list[bytes], margin: int) -> int:
    """Thumbnails in rows along the top; returns the y below the last row (0 when none)."""
    if not references:
        return 0
    width, height = image.size
    per_row = min(len(references), 8)
    cell = max(16, min((width - margin * (per_row + 1)) // per_row, height // 4))
    draw = ImageDraw.Draw(image)
    bottom = 0
    for index, data in enumerate(references):
        row, col = divmod(index, per_row)
        x, y = margin + col * (cell + margin), margin + row * (cell + margin)
        thumb = _thumbnail(data, cell)
        if thumb is None:
            draw.rectangle((x, y, x + cell, y + cell), outline=(255, 255, 255), width=max(1, cell // 40))
            draw.line((x, y, x + cell, y + cell), fill=(255, 255, 255), width=max(1, cell // 40))
        else:
            image.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        bottom = y + cell
    return bottom


def _thumbnail(data: bytes, cell: int) -> Image.Image | None:
    """The reference scaled to fit a `cell` square, or None when it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as source:
            source.draft("RGB", (cell, cell))
            return ImageOps.contain(source.convert("RGB"), (cell, cell))
    except Exception:  # a reference we cannot read is drawn as a crossed box
        return None


def _draw_prompt(image: Image.Image, prompt: str, *, top_limit: int, margin: int) -> None:
    width, height = image.size
    size = max(12, min(width, height) // 18)
    font = ImageFont.load_default(size=size)
    columns = max(8, int((width - 2 * margin) / (size * 0.55)))
    lines = textwrap.wrap(" ".join(prompt.split()), columns) or [""]
    if len(lines) > _MAX_TEXT_LINES:
        lines = lines[: _MAX_TEXT_LINES - 1] + [lines[_MAX_TEXT_LINES - 1][: columns - 1] + "…"]
    text = "\n".join(lines)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font, spacing=size // 4)
    x = max(margin, (width - (right - left)) // 2)
    y = max(top_limit, (height - (bottom - top)) // 2)
    # A drop shadow keeps the text legible on any gradient at half the cost of a stroke.
    shadow = max(1, size // 16)
    for offset, fill in ((shadow, (20, 20, 20)), (0, (255, 255, 255))):
        draw.multiline_text((x + offset, y + offset), text, font=font, fill=fill, spacing=size // 4, align="center")


def _draw_label(image: Image.Image, label: str, margin: int) -> None:
    width, height = image.size
    size = max(10, min(width, height) // 48)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    draw.text((margin, height - margin - size), label, font=font, fill=(240, 240, 240))


@functools.cache
def sample_reference(name: str) -> tuple[bytes, str] | None:
    """(bytes, media type) of a small 64x64 test image served under `/refs/<name>`, or None."""
    if name not in SAMPLE_TYPES:
        return None
    fmt, media_type = SAMPLE_TYPES[name]
    image = _gradient((64, 64), (230, 90, 40), (40, 90, 230))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue(), media_type
