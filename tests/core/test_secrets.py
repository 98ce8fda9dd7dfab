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


def test_signed_urls_are_kept_without_their_signatures(make_emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A reference URL's signature and the API's signed result URLs go nowhere
    that is kept or shared: the journal, the side file, the PNG's provenance,
    the pandas and Parquet exports (people publish those as datasets)."""
    emu = make_emulator()
    out = tmp_path / "outputs"
    reference = emu.cdn_url + "/refs/sample.png?X-Amz-Signature=ref-secret-77&token=tok-secret-88"
    with xj.Client(api_key=KEY, base_url=emu.base_url, output_dir=out) as client:
        result = client.generate("a signed fox", references=[reference])
        assert "X-Amz-Signature=" in result.urls[0]  # the live result has the URL as the API gave it
        signature = result.urls[0].split("X-Amz-Signature=")[1]
        batch = xj.ResultList([result])
        frame = batch.to_pandas()
        batch.to_parquet(tmp_path / "shared.parquet")
        history = client.history()
    kept = _everything_under(out) + (tmp_path / "shared.parquet").read_bytes() + frame.to_csv().encode()
    for secret in ("ref-secret-77", "tok-secret-88", signature):
        assert secret.encode() not in kept, secret
    assert "#sha256=" in frame.loc[0, "url"] and frame.loc[0, "url"].startswith(emu.cdn_url + "/files/")
    assert xj.provenance(result.paths[0])["url"] == frame.loc[0, "url"]
    assert "X-Amz" not in history[0].urls[0]


def test_credentials_in_the_base_url_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    base = "https://alice:pass-secret-99@api.example.com"
    client = xj.Client(api_key=KEY, base_url=base, output_dir=tmp_path)
    assert "pass-secret-99" not in repr(client) and "alice" not in repr(client)
    client.close()
    env = {**__import__("os").environ, "XENODIA_BASE_URL": base, "XENODIA_OUTPUT_DIR": str(tmp_path)}
    shown = subprocess.run([sys.executable, "-m", "xenodia_jupyter"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0 and "api.example.com" in shown.stdout
    assert "pass-secret-99" not in shown.stdout + shown.stderr and "alice" not in shown.stdout
