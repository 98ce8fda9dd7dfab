"""An output folder: image files, their JSON side files, and its journal.

Image files are written atomically (temporary file, fsync, rename) with the
prompt and parameters in a JSON file beside them, under names made from the
entry (so a save done again replaces, never adds).  With an fsspec URL as the
folder, images go to remote storage and the journal stays local.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import APIResponseError, StorageError
from ..wire import rules
from .journal import JOURNAL_NAME, Journal
from .kept_references import KeptReferences

DEFAULT_OUTPUT_DIR = "xenodia_outputs"


class SavedFile(NamedTuple):
    path: Path
    sha256: str  # of the bytes written: a cache hit is checked against it

_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def default_output_dir() -> Path:
    return Path(os.environ.get("XENODIA_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)


def output_location(root: str | os.PathLike[str] | None) -> tuple[Path, str | None]:
    """Where an `output_dir` puts things: (the local folder, the fsspec URL of
    remote storage or None).  With remote storage (`s3://...`) the images go
    there and the journal stays in the local folder, on this machine's disk:
    SQLite needs a real file system, and a journal is only worth keeping where
    the process that sends the POSTs can write it before each one."""
    # Absolute once, here: a `%cd` later must not move the images away from their journal.
    if root is None:
        return default_output_dir().absolute(), None
    text = os.fspath(root)
    protocol, sep, rest = text.partition("://")
    if not sep:
        return Path(text).expanduser().absolute(), None
    if protocol in ("file", "local"):
        return Path(urlsplit(text).path if protocol == "file" else rest).absolute(), None
    return default_output_dir().absolute(), text.rstrip("/")


class OutputStore:
    """An output folder: image files, their JSON side files, and the journal.

    `root` may be an fsspec URL (`s3://bucket/run`, `gs://...`): images and side
    files are then written there (the `[storage]` extra), and the journal is kept
    locally (see `output_location`).  Another process may pass its own `journal`
    (a cluster worker keeps none: it reports to the driver's).  The journal
    is opened on first use."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, journal: Journal | None = None) -> None:
        self.root, self.remote = output_location(root)
        if self.remote is not None:
            from . import remote as stored_files

            stored_files.check_remote(self.remote)
        self._journal = journal
        self.references = KeptReferences(self.root)

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.root / JOURNAL_NAME)
        return self._journal

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def save_result(self, data: bytes, *, url: str, prompt: str, index: int, facts: dict[str, Any]) -> SavedFile:
        """Check a downloaded result (a whole image of an accepted type) and save
        it under a readable name.  The JSON side file holds the prompt, `facts`
        (parameters, task and request id, cost, journal id), the URL and when."""
        mime = check_image(data, url)
        meta = {"prompt": prompt, **facts, "url": url, "index": index, "saved_at": time.time()}
        if mime == "image/png":
            from .._version import __version__
            from ..images.provenance import with_provenance

            data = with_provenance(data, {**meta, "package": f"xenodia-jupyter {__version__}"})
        try:
            stem = file_stem(prompt, facts.get("task_id"), index, facts.get("created_at"))
            return SavedFile(self.save_image(data, mime, stem=stem, meta=meta), hashlib.sha256(data).hexdigest())
        except OSError as exc:  # disk full, a file where the folder should be: the task stays recoverable
            raise StorageError(
                f"the image could not be saved in {self.root} ({exc.strerror or exc})", path=str(self.root), task_id=facts.get("task_id")
            ) from None

    def sweep_debris(self, older_than_s: float = 3600.0) -> list[Path]:
        """Remove the `.part` files an interrupted save left behind (a live save
        takes seconds, so an hour-old one is debris); returns what was removed."""
        removed = []
        cutoff = time.time() - older_than_s
        for part in self.root.glob(".*.part") if self.root.is_dir() else []:
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed.append(part)
        return removed

    def remove_debris_of(self, path: Path) -> None:
        """The `.part` files of earlier, interrupted writes of `path` (a process
        killed mid-write), once `path` itself is whole."""
        if self.remote is None:
            for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
                part.unlink(missing_ok=True)
            for part in path.parent.glob(f".{glob.escape(path.with_suffix('.json').name)}.*.part"):
                part.unlink(missing_ok=True)

    def save_image(self, data: bytes, mime: str, *, stem: str, meta: dict[str, Any]) -> Path:
        """Write `data` atomically as `<root>/<stem><ext>` and `meta` beside it."""
        name = f"{_safe_stem(stem)}{_EXTENSIONS.get(mime, '.png')}"
        if self.remote is not None:
            from . import remote as stored_files

            return stored_files.write_remote(self.remote, name, data, json.dumps(meta, indent=2, default=str).encode())
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        # Only the image is flushed to the disk before the journal says "saved": the
        # side file repeats what the journal holds, so it is not worth a second fsync.
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str).encode(), durable=False)
        atomic_write(path, data)
        return path


def _safe_stem(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "image"


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_stem(prompt: str, task_id: str | None, index: int, when: float | None = None) -> str:
    """A readable, unique file name: time, a slug of the prompt, the task id."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when or time.time()))
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].rstrip("-") or "image"
    # A task id is the server's text: keep file names safe and short (< 255 bytes) whatever it sends.
    ident = re.sub(r"[^A-Za-z0-9_-]+", "-", task_id or "")[:64].strip("-") or uuid.uuid4().hex[:12]
    return f"{stamp}_{slug}_{ident}_{index}"


def check_image(data: bytes, url: str) -> str:
    """A downloaded result must be a whole image of an accepted type; returns its mime type."""
    mime = rules.sniff_mime(data)
    if mime is None:
        raise APIResponseError(f"{url} did not return an image ({rules.describe_bytes(data)})")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        if mime == "image/png" and not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
            raise OSError("no IEND chunk")
    except Exception as exc:
        raise APIResponseError(f"{url} returned a broken or truncated image ({exc})") from None
    return mime
