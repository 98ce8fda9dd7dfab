"""Every reference file sent, kept once by its content.

`references/<sha256><ext>` in the output folder (always the local folder: with
remote storage it sits beside the journal).  A recipe names its references by
digest, so the exact bytes that were sent can be sent again; the same picture
used by a thousand generations is one file.  Deleting the folder loses nothing
paid for: a recipe without its references then asks for `references=`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

FOLDER = "references"
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class KeptReferences:
    """The `references/` folder of one output folder."""

    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / FOLDER
        self._known: set[str] = set()  # digests written or seen by this process: no stat per generation
        self._lock = threading.Lock()

    def keep(self, digest: str, data: bytes, mime: str) -> None:
        """Write the bytes under their digest unless they are there already."""
        if digest in self._known:
            return
        path = self.folder / (digest + _EXTENSIONS.get(mime, ".bin"))
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            # Not fsynced: a reference lost to a power cut costs a `references=`, never money;
            # a torn file fails its digest check in `read` and counts as missing.
            part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                part.write_bytes(data)
                os.replace(part, path)
            finally:
                part.unlink(missing_ok=True)
        with self._lock:
            self._known.add(digest)

    def read(self, digest: str) -> bytes | None:
        """The bytes kept under `digest`, checked against it; None when absent or damaged."""
        for path in self.folder.glob(digest + ".*") if self.folder.is_dir() and _is_digest(digest) else ():
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == digest:
                return data
        return None

    def usage(self) -> tuple[int, int]:
        """(files, bytes) the folder holds."""
        files = [p for p in self.folder.iterdir() if p.is_file()] if self.folder.is_dir() else []
        return len(files), sum(p.stat().st_size for p in files)


def _is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
