"""How an image was made, ready to make again: `Recipe`.

A recipe is read from the journal (a result, a journal id, a task id) or,
for an image file, from its provenance (the PNG's `xenodia` chunk or the
JSON side file), so a PNG copied out of the output folder still says how it
was made.  Its references are the bytes that were sent, read back by digest
from `references/` (see store/kept_references.py); where they are kept
nowhere, `missing` names them and `remix` refuses before sending anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..store.entries import JournalEntry
from ..store.outputs import OutputStore
from ..wire import rules
from .results import GenerationResult

_JOURNAL_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Recipe:
    """The prompt, parameters and references of one generation."""

    prompt: str
    aspect_ratio: str | None
    resolution: str | None
    model: str = rules.MODEL
    references: list[bytes | str] = field(default_factory=list, repr=False)  # bytes sent, or URLs, in order
    parent: str | None = None  # the journal id of the source: a remix records it as its parent
    missing: list[str] = field(default_factory=list)  # references whose bytes are kept nowhere here

    def kwargs(self) -> dict[str, Any]:
        """The arguments of `generate` that make this image again."""
        out: dict[str, Any] = {"prompt": self.prompt, "model": self.model}
        if self.references:
            out["references"] = list(self.references)
        if self.aspect_ratio is not None:
            out["aspect_ratio"] = self.aspect_ratio
        if self.resolution is not None:
            out["resolution"] = self.resolution
        return out

    def __repr__(self) -> str:
        refs = f"{len(self.references)} reference(s)" + (f", {len(self.missing)} missing" if self.missing else "")
        return (f"<Recipe prompt={self.prompt[:60]!r} aspect_ratio={self.aspect_ratio!r} "
                f"resolution={self.resolution!r} {refs} parent={self.parent!r}>")


def read_recipe(source: object, store: OutputStore) -> Recipe:
    """The recipe of `source`: a `GenerationResult`, a journal id, a task id,
    or the path of an image file (ours, wherever it was copied)."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        from ..images.provenance import provenance

        try:
            record = provenance(source)
        except (FileNotFoundError, ValueError):
            raise InvalidRequestError("source", f"{os.fspath(source)} carries no xenodia provenance") from None
        return recipe_from_provenance(record, store)
    entry = _entry_of(source, store)
    if entry is not None:
        return _entry_recipe(entry, store)
    raise InvalidRequestError(
        "source", f"{source!r} is not a result, a journal id or task id in {store.root}, or an image file"
    )


def recipe_from_provenance(record: dict[str, Any], store: OutputStore) -> Recipe:
    """The recipe a provenance record tells (a PNG's chunk): the journal's row when
    this folder made it, else the record's own facts, references by digest."""
    journal_id = record.get("journal_id")
    entry = store.journal.entry(journal_id) if isinstance(journal_id, str) else None
    if entry is not None:  # this folder made it: its row has the URLs of URL references too
        return _entry_recipe(entry, store)
    digests = record.get("references") or []
    return _recipe(str(record.get("prompt", "")), record, [(d, None, None) for d in digests], journal_id, store)


def _entry_of(source: object, store: OutputStore) -> JournalEntry | None:
    """The journal row of a result, a journal id or a task id."""
    journal = store.journal
    if isinstance(source, GenerationResult):
        if source.journal_id is None:
            raise InvalidRequestError("source", "this result has no journal id (it was not made by this package)")
        entry = journal.entry(source.journal_id)
        if entry is None:
            raise InvalidRequestError("source", f"result {source.journal_id} is not in the journal of {store.root}")
        return entry
    if isinstance(source, str):
        found = journal.entry(source) if _JOURNAL_ID.fullmatch(source) else None
        return found if found is not None else journal.find_task(source)
    return None


def _entry_recipe(entry: JournalEntry, store: OutputStore) -> Recipe:
    refs = [(r.get("digest"), r.get("url"), r.get("source")) for r in entry.refs]
    return _recipe(entry.prompt, entry.params, refs, entry.id, store)


def _recipe(
    prompt: str, params: dict[str, Any], refs: list[tuple[Any, Any, Any]], parent: Any, store: OutputStore
) -> Recipe:
    references: list[bytes | str] = []
    missing = []
    for number, (digest, url, source) in enumerate(refs):
        if url and "#sha256=" in str(url):  # its signed query was not kept: only its owner can sign it again
            missing.append(f"[{number}] {public_host(str(url))} (a signed URL; its signature is not kept)")
            continue
        if url:
            references.append(str(url))
            continue
        data = store.references.read(digest) if isinstance(digest, str) else None
        if data is None:
            missing.append(f"[{number}] {source or 'file'} (sha256 {str(digest)[:12]}…)")
        else:
            references.append(data)
    return Recipe(
        prompt=prompt,
        aspect_ratio=params.get("aspect_ratio"),
        resolution=params.get("resolution"),
        model=params.get("model") or rules.MODEL,
        references=references,
        parent=parent if isinstance(parent, str) else None,
        missing=missing,
    )


def public_host(url: str) -> str:
    return url.split("#", 1)[0]


def remix_arguments(recipe: Recipe, changes: dict[str, Any]) -> dict[str, Any]:
    """`generate`'s arguments for a remix: the recipe with `changes` applied.
    Refused, before anything is sent, when references it needs are missing."""
    allowed = {"prompt", "aspect_ratio", "resolution", "references", "model", "timeout", "cache", "on_progress"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidRequestError(unknown[0], f"remix changes {', '.join(sorted(allowed - {'on_progress'}))}; not {unknown[0]!r}")
    if recipe.missing and "references" not in changes:
        raise InvalidRequestError(
            "references",
            f"the recipe's reference(s) {'; '.join(recipe.missing)} are kept nowhere in this output folder "
            "(the image came from elsewhere, or references/ was pruned); nothing was sent. Pass references=[...] "
            "to replace them (references=[] to go without)",
        )
    return {**recipe.kwargs(), **changes}
