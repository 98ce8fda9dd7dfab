"""What a generation gives back: files on disk, images loaded only when touched,
and a small thumbnail view for notebooks (never the full-size PNG)."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, SupportsIndex, TypeVar, overload

from ..images.thumbnails import THUMBNAIL_SIZE, make_thumbnail

if TYPE_CHECKING:
    from PIL import Image

    from ..store.entries import JournalEntry


@dataclass(eq=False)
class GenerationResult:
    """One generation call: its images (lazy PIL images over the saved files),
    the URLs the API returned, the task id and what it cost."""

    prompt: str
    urls: list[str]
    paths: list[Path]
    task_id: str | None = None
    cost_usd: float | None = None
    request_id: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    created_at: float | None = None
    journal_id: str | None = None
    task_ids: list[str] = field(default_factory=list)
    cached: bool = False  # served from the request cache: no request was sent, cost 0.0
    rating: int = 0  # 1 starred, -1 rejected in the panel (kept in the journal)
    parent: str | None = None  # the journal id of the result this one was remixed from (xj.remix)
    preview_size: int = field(default=THUMBNAIL_SIZE, repr=False)
    _images: list[Image.Image] | None = field(default=None, repr=False)

    @classmethod
    def from_entry(cls, entry: JournalEntry) -> GenerationResult:
        """A saved result as the journal remembers it (history, resumed jobs, the cache)."""
        return cls(
            prompt=entry.prompt,
            urls=entry.urls,
            paths=entry.paths,
            task_id=entry.task_id,
            cost_usd=entry.cost_usd,
            request_id=entry.request_id,
            aspect_ratio=entry.params.get("aspect_ratio"),
            resolution=entry.params.get("resolution"),
            created_at=entry.created_at,
            journal_id=entry.id,
            rating=entry.rating,
            parent=entry.parent,
        )

    def __post_init__(self) -> None:
        if not self.task_ids and self.task_id:
            self.task_ids = [self.task_id]

    @property
    def images(self) -> list[Image.Image]:
        """The images as PIL objects.  Opening reads only the file header; pixels
        are decoded when first used."""
        if self._images is None:

            from ..images.thumbnails import check_pixels
            from ..store.remote import open_image

            images: list[Image.Image] = [open_image(p) for p in self.paths]
            for image, path in zip(images, self.paths, strict=True):
                check_pixels(image, path)
            self._images = images
        return self._images

    @property
    def image(self) -> Image.Image:
        """The first image."""
        images = self.images
        if not images:
            raise IndexError("this result holds no image")
        return images[0]

    @property
    def path(self) -> Path:
        return self.paths[0]

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Image.Image]:
        return iter(self.images)

    def __getitem__(self, index: int) -> Image.Image:
        return self.images[index]

    def __xenodia_references__(self) -> list[Path]:
        """Used as a reference, a result sends its saved files unchanged."""
        return list(self.paths)

    def thumbnail(self, index: int = 0, size: int = THUMBNAIL_SIZE) -> bytes:
        """A small JPEG of one image, made from the file on disk."""
        return make_thumbnail(self.paths[index], size)

    def __repr__(self) -> str:
        parts = [f"{len(self.paths)} image{'s' if len(self.paths) != 1 else ''}"]
        if self.task_id:
            parts.append(f"task_id={self.task_id!r}")
        if self.cost_usd is not None:
            parts.append(f"cost_usd={self.cost_usd:.2f}")
        prompt = self.prompt if len(self.prompt) <= 50 else self.prompt[:47] + "..."
        return f"<GenerationResult {' '.join(parts)} prompt={prompt!r}>"

    def _repr_html_(self) -> str:
        return render_html([self], self.preview_size)

    def _caption(self) -> str:
        bits = []
        if self.paths and self.paths[0].exists():
            try:
                w, h = self._images[0].size if self._images else _image_size(self.paths[0])
                bits.append(f"{w}x{h}")
            except OSError:
                pass
        if self.task_id:
            bits.append(self.task_id)
        if self.cost_usd is not None:
            bits.append(f"${self.cost_usd:.2f}")
        return " · ".join(bits)


def _image_size(path: Path) -> tuple[int, int]:
    from ..store.remote import open_image

    with open_image(path) as im:  # reads the header only, and closes the file
        return im.size


def _file_href(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = str(path)
    return html.escape(rel.replace(os.sep, "/"), quote=True)


def render_html(results: list[GenerationResult | BaseException], size: int = THUMBNAIL_SIZE) -> str:
    """Thumbnails with captions and links to the full files; a failed item is a
    small card in its place, with its index, error class and message."""
    cells = []
    for position, result in enumerate(results):
        if isinstance(result, BaseException):
            cells.append(_failure_card(position, result, size))
            continue
        for index, path in enumerate(result.paths):
            try:
                data = base64.b64encode(make_thumbnail(path, size)).decode()
                img = f'<img src="data:image/jpeg;base64,{data}" style="max-width:{size}px;max-height:{size}px;display:block"/>'
            except OSError:
                img = f'<div style="width:{size}px;color:var(--jp-error-color1, #a00)">missing file</div>'
            caption = _caption_html(result._caption()) if index == 0 else ""
            cells.append(
                f'<figure style="margin:4px;display:inline-block;vertical-align:top">'
                f'<a href="{_file_href(path)}" target="_blank" title="{html.escape(result.prompt, quote=True)}">{img}</a>'
                f'<figcaption style="font-size:11px;max-width:{size}px;color:var(--jp-ui-font-color1, #333);overflow-wrap:anywhere">'
                f"{html.escape(_short(result.prompt))}<br/>{caption}</figcaption></figure>"
            )
    if not cells:
        return "<em>no images</em>"
    return '<div class="xenodia-result" style="display:flex;flex-wrap:wrap">' + "".join(cells) + "</div>"


def _caption_html(caption: str) -> str:
    """The facts under a thumbnail: each kept whole (no "1024x1024 ·" left on one
    line and its task id on the next), a long one shortened, all on hover."""
    parts = [f'<span style="white-space:nowrap">{html.escape(_short(part, 18))}</span>' for part in caption.split(" · ")]
    return f'<span title="{html.escape(caption, quote=True)}">' + " · ".join(parts) + "</span>"


def _failure_card(position: int, error: BaseException, size: int) -> str:
    side = min(size, 160)
    return (
        f'<figure class="xenodia-failed" style="margin:4px;display:inline-block;vertical-align:top;width:{side}px;'
        f'height:{side}px;border:1px solid var(--jp-error-color1, #c00);box-sizing:border-box;padding:6px;font-size:11px;color:var(--jp-error-color1, #b00);overflow:hidden">'
        f"<b>[{position}] {html.escape(type(error).__name__)}</b><br/>{html.escape(_short(str(error), 160))}</figure>"
    )


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


Item = TypeVar("Item")


class ResultList(list[Item], Generic[Item]):
    """A list of results that shows itself as one grid of thumbnails:
    `ResultList[GenerationResult]` from `history()`, and
    `ResultList[GenerationResult | XenodiaError]` from `generate_many` and
    `recover()`, with the error in place of each call that failed."""

    job: str | None = None  # the named job these came from, if any
    prompts: list[str] | None = None  # what each item asked for (a failed item's row keeps its prompt)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> ResultList[Item]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Item | ResultList[Item]:
        """A slice is a `ResultList` too (`results[:6]` shows as a grid)."""
        if isinstance(index, slice):
            part: ResultList[Item] = ResultList(list.__getitem__(self, index))
            part.job = self.job
            part.prompts = self.prompts[index] if self.prompts is not None else None
            return part
        return list.__getitem__(self, index)

    def to_pandas(self) -> Any:
        """One row per image (prompt, parameters, path, url, size, ids, cost,
        cached, error...); a failed item keeps its row.  Needs pandas."""
        from .export import to_pandas

        return to_pandas(self, job=self.job, prompts=self.prompts)  # type: ignore[arg-type]

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        *,
        embed_images: bool = True,
        rows_per_file: int | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """A Parquet dataset whose `image` column Hugging Face `datasets` reads as
        images; `rows_per_file` writes numbered shards into the folder `path`.
        An existing export is refused unless `overwrite=True`; a failed write
        leaves it as it was."""
        from .export import to_parquet

        return to_parquet(
            self, Path(path), embed_images=embed_images, rows_per_file=rows_per_file, job=self.job,  # type: ignore[arg-type]
            overwrite=overwrite, prompts=self.prompts,
        )

    def _repr_html_(self) -> str:
        return render_html([r for r in self if isinstance(r, (GenerationResult, BaseException))])

    def __repr__(self) -> str:
        ok = sum(isinstance(r, GenerationResult) for r in self)
        head = f"<{len(self)} results: {ok} ok, {len(self) - ok} failed>"
        failures = [f"  [{i}] {type(r).__name__}: {_short(str(r), 120)}" for i, r in enumerate(self) if isinstance(r, BaseException)]
        return "\n".join([head, *failures])
