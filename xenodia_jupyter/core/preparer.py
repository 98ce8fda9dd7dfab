"""What a request will be, checked before anything is sent: the model's
rules (from discovery, or the documented ones), the references made
upload-ready, URL references checked, the price.

`Preparer` is one of `AsyncClient`'s parts; `PreparedGeneration` is what it
produces, what `--dry-run` shows and what the generator sends.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from ..errors import APIResponseError, InvalidRequestError, XenodiaError
from ..images.references import PreparedReference, prepare_references, reference_from_bytes
from ..wire import protocol, rules
from ..wire.rules import ModelInfo
from ..wire.transport import DEFAULT_BASE_URL, Transport
from .budget import Budget

log = logging.getLogger("xenodia_jupyter")


@dataclass
class PreparedGeneration:
    """A checked request, ready to send: what `--dry-run` shows."""

    prompt: str
    params: dict[str, Any]
    references: list[PreparedReference]
    price_usd: float
    parent: str | None = None  # the journal id of the result this remixes (not part of the request)

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.params["model"],
            "prompt": self.prompt,
            "aspect_ratio": self.params["aspect_ratio"],
            "resolution": self.params["resolution"],
            "references": [r.source for r in self.references],
            "transport": "multipart" if any(r.kind == "file" for r in self.references) else "json",
            "price_usd": self.price_usd,
        }

    def request_key(self, variant: int = 0) -> str:
        """What the request cache looks results up by: the model, prompt and
        parameters, the references' digests in order, and which variant (`-n 4`
        asks for variants 0-3 of one request)."""
        parts = [self.params, self.prompt, [r.digest for r in self.references], variant]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Preparer:
    """Model discovery, the rules, references and the price: everything that
    is settled before a request may be sent."""

    def __init__(self, transport: Transport, budget: Budget, *, check_urls: bool) -> None:
        self._transport = transport
        self.budget = budget
        self.check_urls = check_urls
        self._model_info: ModelInfo | None = None
        self._model_lock: asyncio.Lock | None = None

    async def model(self, *, deadline: float | None = None) -> ModelInfo:
        """gpt-image-2 as model discovery describes it (read once per client;
        no key needed).  Falls back to the documented rules when unreachable."""
        if self._model_info is not None:
            return self._model_info
        if self._model_lock is None:
            self._model_lock = asyncio.Lock()
        async with self._model_lock:
            if self._model_info is None and not self._transport.has_key and self._transport.base_url == DEFAULT_BASE_URL:
                # No key and the real API: nothing can be generated, so ask nothing of it.
                log.debug("no API key: using the documented rules without asking model discovery")
                self._model_info = rules.DEFAULT_MODEL_INFO
            if self._model_info is None:
                try:
                    body = await self._transport.get_json(
                        self._transport.url(protocol.MODELS_PATH), auth=False, retries=1, deadline=deadline
                    )
                    self._model_info = ModelInfo(**protocol.parse_models(body))
                except XenodiaError as exc:
                    # A server that cannot be reached, or refuses, says so itself when the request
                    # is sent: a warning here would be the same news twice.  Only a server that
                    # answers discovery with nonsense, and may still generate, is worth a warning.
                    noisy = self._transport.has_key and isinstance(exc, APIResponseError)
                    level = logging.WARNING if noisy else logging.DEBUG
                    log.log(level, "model discovery failed (%s); using the documented rules", exc)
                    self._model_info = rules.DEFAULT_MODEL_INFO
        return self._model_info

    async def prepare(
        self,
        prompt: str,
        references: object = None,
        *,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        model: str = rules.MODEL,
        response_format: str = "url",
        **options: Any,
    ) -> PreparedGeneration:
        """Check every rule and build the request, sending nothing (`--dry-run`
        shows this).  Raises `InvalidRequestError` naming the field and rule."""
        rules.check_prompt(prompt)
        params, price = await self._check_options(aspect_ratio, resolution, model, response_format, options)
        refs = await self._prepare(references, await self.model())
        await self._check_urls(refs)
        self.budget.check(price)
        return PreparedGeneration(prompt=prompt, params=params, references=refs, price_usd=price)

    async def _check_options(
        self, aspect_ratio: str | None, resolution: str | None, model: str, response_format: str, options: dict[str, Any]
    ) -> tuple[dict[str, Any], float]:
        rules.check_unknown_options(options)
        info = await self.model()
        rules.check_parameters(
            model=model, aspect_ratio=aspect_ratio, resolution=resolution, response_format=response_format, info=info
        )
        params = {"model": model, "aspect_ratio": aspect_ratio, "resolution": resolution}
        return params, info.price_usd_for(resolution)

    async def _prepare(self, references: object, info: ModelInfo) -> list[PreparedReference]:
        if references is None or (isinstance(references, (list, tuple)) and not references):
            return []
        if isinstance(references, str) or (
            isinstance(references, (list, tuple)) and all(isinstance(r, str) and "://" in r for r in references)
        ):
            return prepare_references(references, max_references=info.max_references)
        # Reading files and encoding images takes real time: keep it off the event loop.
        return await asyncio.to_thread(prepare_references, references, max_references=info.max_references)

    async def _check_urls(self, refs: list[PreparedReference]) -> None:
        """Every URL reference, checked before anything is billed: reachable (a
        ranged GET of its first bytes, without the key), a JPEG, PNG or WebP by
        its bytes, and not over 30 MiB when its size is known.  `check_urls=False`
        skips this for files only the API's servers can reach."""
        if not self.check_urls:
            return

        async def check(index: int, url: str) -> None:
            field = f"references[{index}]"
            off = "pass check_urls=False if only the API's servers can reach it"
            try:
                head, size = await self._transport.peek(url)
            except XenodiaError as exc:
                raise InvalidRequestError(field, f"{url} could not be checked ({exc}); {off}") from None
            if rules.sniff_mime(head) is None:
                raise InvalidRequestError(field, f"{url} is not a JPEG, PNG or WebP image ({rules.describe_bytes(head)})")
            if size is not None and size > rules.MAX_REFERENCE_BYTES:
                raise InvalidRequestError(
                    field, f"{url} is {size:,} bytes; at most {rules.MAX_REFERENCE_BYTES:,} (30 MiB) are allowed"
                )

        await asyncio.gather(*(check(i, r.url) for i, r in enumerate(refs) if r.kind == "url" and r.url))

    async def upload_ready(self, refs: list[PreparedReference]) -> list[PreparedReference]:
        """URLs and files together: the API takes either a JSON body with URLs or a
        multipart body with files, so URL references are fetched (without the key)
        and uploaded as files too.  This also lets the type and size rules be
        checked on them before anything is billed."""
        if not (any(r.kind == "file" for r in refs) and any(r.kind == "url" for r in refs)):
            return refs

        async def fetch(ref: PreparedReference) -> PreparedReference:
            if ref.kind != "url" or not ref.url:
                return ref
            try:
                data = await self._transport.download(ref.url, limit=rules.MAX_REFERENCE_BYTES)
            except XenodiaError as exc:
                raise InvalidRequestError("references", f"could not fetch {ref.url} ({exc})") from None
            name = ref.url.rsplit("/", 1)[-1].split("?")[0] or "reference"
            return reference_from_bytes(data, name, f"URL {ref.url}")

        return list(await asyncio.gather(*(fetch(r) for r in refs)))

