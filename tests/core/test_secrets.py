"""The key never leaks: not into errors, tracebacks, reprs, logs (httpx's
included, at DEBUG), the journal or the output folder; and it is only ever sent
to the base URL's origin."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

import xenodia_jupyter as xj

KEY = "audit-key-5f0c1e9b2a7d4c3e8f6a"


def _everything_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


def test_the_key_appears_nowhere_after_successes_and_faults(
    make_emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = make_emulator(poll_url="foreign")
    out = tmp_path / "outputs"
    texts: list[str] = []
    with xj.Client(api_key=KEY, base_url=emu.base_url, output_dir=out, request_timeout=0.5) as client:
        texts.append(repr(client))
        result = client.generate("fine", references=[emu.cdn_url + "/refs/sample.png"])
        texts += [repr(result), result._repr_html_()]
        faults = [
            ("generate", "status", {"status": 401}),
            ("generate", "status", {"status": 402}),
            ("generate", "nested", {"status": 502}),
            ("generate", "html", {"status": 500}),
            ("generate", "drop", {}),
            ("generate", "delay", {"delay": 1.0}),
            ("download", "status", {"status": 404}),
        ]
        for route, kind, options in faults:
            emu.inject(route, kind, **options)
            with pytest.raises(xj.XenodiaError) as caught:
                client.generate(f"fault {kind}")
            texts += [str(caught.value), repr(caught.value)]
            texts += traceback.format_exception(caught.value)
        emu.next_task("fail")
        with pytest.raises(xj.GenerationFailedError) as failed:
            client.generate("fails")
        texts += traceback.format_exception(failed.value)
        texts += [repr(e) for e in client.store.journal.entries()]
        texts.append(repr(client.recover()))

    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert any("httpx" in r.name or "httpcore" in r.name for r in caplog.records), "httpx logging was captured"
    for text in texts:
        assert KEY not in text
    assert KEY.encode() not in _everything_under(out)
    assert emu.stats.auth_on_cdn == 0


def test_the_key_goes_only_to_the_base_origin(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(poll_url="foreign")
    client = make_client(base_url=emu.base_url)
    first = client.generate("two origins", references=[emu.cdn_url + "/refs/sample.png"])
    client.generate("mixed", references=[first, emu.cdn_url + "/refs/sample.jpg"])  # the client fetches the URL
    by_origin = {(r.origin, r.has_authorization) for r in emu.requests}
    assert ("cdn", True) not in by_origin
    assert ("api", True) in by_origin
    models = [r for r in emu.requests if r.path == "/v1/models"]
    assert models and not any(r.has_authorization for r in models)
