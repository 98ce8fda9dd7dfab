"""Reading a generation request (JSON or multipart) and checking it against the table."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from .checks import (
    RequestRejected,
    check_async,
    check_known_fields,
    check_parameters,
    check_prompt,
    check_reference_bytes,
    check_reference_count,
    check_reference_url,
)
from .contract import FILE_FIELDS, MAX_REFERENCE_BYTES, MAX_REFERENCES, URL_FIELDS, sniff_mime

__all__ = ["ReceivedFile", "ReceivedGeneration", "read_generation", "validate"]

FORM_PART_LIMIT = MAX_REFERENCE_BYTES + 1024 * 1024  # room for a 30 MiB part and its headers
FORM_MAX_FILES = 4 * MAX_REFERENCES  # well above the limit, so the count rule (not the parser) answers


@dataclass
class ReceivedFile:
    """One file part of a multipart generation request."""

    part: str  # the form field it came under
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


@dataclass
class ReceivedGeneration:
    """A generation request as received, before and after validation."""

    transport: str  # "json" | "multipart"
    fields: dict[str, Any] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    files: list[ReceivedFile] = field(default_factory=list)
    is_async: bool = False

    def describe(self) -> dict[str, Any]:
        """What `Emulator.last_generation` shows."""
        return {
            "transport": self.transport,
            "fields": dict(self.fields),
            "image_input": list(self.urls),
            "files": [
                {
                    "field": f.part,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": len(f.data),
                    "mime_sniffed": sniff_mime(f.data),
                    "sha256": hashlib.sha256(f.data).hexdigest(),
                }
                for f in self.files
            ],
            "async": self.is_async,
        }

    def fingerprint(self) -> str:
        """What makes two requests the same for an Idempotency-Key: fields, URLs, file bytes."""
        digest = hashlib.sha256(json.dumps([self.fields, self.urls], sort_keys=True, default=str).encode())
        for received in self.files:
            digest.update(hashlib.sha256(received.data).digest())
        return digest.hexdigest()

    def snapshot(self) -> dict[str, Any]:
        """The envelope's `request`: the scalar fields and references, without file bytes."""
        snap: dict[str, Any] = {k: v for k, v in self.fields.items() if k != "async"}
        if self.urls:
            snap["image_input"] = list(self.urls)
        if self.files:
            snap["images"] = [
                {"filename": f.filename, "content_type": f.content_type, "size": len(f.data)} for f in self.files
            ]
        return snap


async def read_generation(request: Request) -> ReceivedGeneration:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _read_multipart(request)
    if content_type.startswith("application/x-www-form-urlencoded"):
        raise RequestRejected(
            "body", "a url-encoded form is not accepted; send application/json or multipart/form-data"
        )
    return await _read_json(request)


async def _read_json(request: Request) -> ReceivedGeneration:
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise RequestRejected("body", "is not valid JSON (send application/json or multipart/form-data)") from None
    if not isinstance(data, dict):
        raise RequestRejected("body", "must be a JSON object")
    urls = data.pop("image_input", None)
    if urls is None:
        urls = []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise RequestRejected("image_input", "must be a list of URL strings")
    return ReceivedGeneration("json", fields=data, urls=urls)


async def _read_multipart(request: Request) -> ReceivedGeneration:
    try:
        form = await request.form(max_files=FORM_MAX_FILES, max_part_size=FORM_PART_LIMIT)
    except (HTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise RequestRejected("body", f"is not valid multipart/form-data ({detail})") from None
    gen = ReceivedGeneration("multipart")
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in FILE_FIELDS:
                    raise RequestRejected(
                        key, "unexpected file part; upload references under image, image[] or image_input[]"
                    )
                gen.files.append(ReceivedFile(key, value.filename, value.content_type, await value.read()))
            elif key in URL_FIELDS:
                gen.urls.append(value)
            elif key in FILE_FIELDS:
                raise RequestRejected(key, "must be a file part; send reference URLs as image_input")
            elif key in gen.fields:
                raise RequestRejected(key, "is given more than once")
            else:
                gen.fields[key] = value
    finally:
        await form.close()
    return gen


def validate(gen: ReceivedGeneration) -> None:
    """Apply the contract's rules in order; raise on the first one broken (and set `is_async`)."""
    for name in ("model", "prompt"):
        if name not in gen.fields:
            raise RequestRejected(name, "is required")
    check_known_fields(gen.fields)
    check_parameters(
        model=gen.fields["model"],
        aspect_ratio=gen.fields.get("aspect_ratio"),
        resolution=gen.fields.get("resolution"),
        response_format=gen.fields.get("response_format", "url"),
    )
    check_prompt(gen.fields["prompt"])
    gen.is_async = check_async(gen.fields.get("async", False))
    check_reference_count(len(gen.urls) + len(gen.files), gen.files[0].part if gen.files else "image_input")
    for url in gen.urls:
        check_reference_url(url, "image_input")
    for number, received in enumerate(gen.files, 1):
        name = repr(received.filename) if received.filename else f"file #{number}"
        check_reference_bytes(received.data, name, received.part)
