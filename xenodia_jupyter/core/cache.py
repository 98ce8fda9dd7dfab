"""The request cache: an earlier identical request's saved result, at no cost.

A hit must be from the same API (the entry's base URL; the emulator's picture
is not the real API's) and its files must still be the bytes that were
saved (their sha256 is journaled): a file replaced or damaged since is a miss
that says why, and the request is made again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

from ..store.entries import JournalEntry
from .ledger import is_saved
from .results import GenerationResult

log = logging.getLogger("xenodia_jupyter")


def cached_result(entry: JournalEntry | None) -> GenerationResult | None:
    """`entry` (the newest saved one for the request) as a cache hit, or None."""
    if entry is None or not is_saved(entry):
        return None
    changed = _changed_file(entry.paths, entry.digests)
    if changed is not None:
        log.warning("the cached result %s was changed since it was saved (its bytes differ); generating it again", changed)
        return None
    return replace(GenerationResult.from_entry(entry), cached=True, cost_usd=0.0)


def _changed_file(paths: list[Path], digests: list[str]) -> Path | None:
    """The first saved file whose bytes are not the ones journaled (None: all
    the same).  Rows saved before digests were kept have none to compare."""
    for path, digest in zip(paths, digests, strict=False):
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                return path
        except OSError:
            return path
    return None
