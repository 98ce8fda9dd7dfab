"""Jobs on a real Dask cluster (LocalCluster, three worker processes) against
the emulator: every item saved and billed once, in input order, within the
job's in-flight cap and pace; a worker SIGKILLed mid-job changes nothing of
that; output on fsspec storage (file:// and S3 served by moto on loopback)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator

distributed = pytest.importorskip("distributed")

S3_KEY = {"key": "testing", "secret": "testing"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, with a bucket; workers reach it through the
    FSSPEC_S3_* variables they inherit (set before the cluster starts)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("FSSPEC_S3_ENDPOINT_URL", "FSSPEC_S3_KEY", "FSSPEC_S3_SECRET")}
    os.environ.update(FSSPEC_S3_ENDPOINT_URL=endpoint, FSSPEC_S3_KEY="testing", FSSPEC_S3_SECRET="testing")
    import fsspec.config

    fsspec.config.conf["s3"] = {"endpoint_url": endpoint, **S3_KEY}
    import s3fs

    s3fs.S3FileSystem(endpoint_url=endpoint, **S3_KEY, skip_instance_cache=True).mkdir("results")
    yield endpoint
    fsspec.config.conf.pop("s3", None)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture(scope="module")
def dask_client(s3_endpoint: str) -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=3, threads_per_worker=2, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as dask:
        yield dask


def _run_in_thread(job: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _generation_posts(emu: Emulator) -> list[float]:
    return sorted(r.at for r in emu.requests if r.method == "POST" and r.path.endswith("/generations"))


def test_a_job_on_three_workers_is_saved_in_order_billed_once_within_the_cap_and_pace(
    make_emulator: Callable[..., Emulator], make_client: Callable[..., xj.Client], dask_client: Any
) -> None:
    emu = make_emulator(latency=0.05, poll_interval_ms=50)  # pace and cap, not latency, set the time
    client = make_client(api_key=emu.api_key, base_url=emu.base_url, max_in_flight=6, max_requests_per_minute=3000)  # one POST per 20 ms for the whole job
    prompts = [f"a lighthouse, study {i}" for i in range(300)]
    results = client.generate_many(prompts, job="cluster-300", executor=dask_client, concurrency=8, progress=False)

    assert all(isinstance(r, xj.GenerationResult) for r in results), [r for r in results if isinstance(r, Exception)][:3]
    assert [r.prompt for r in results] == prompts
    assert all(r.path.exists() for r in results)
    assert emu.stats.billed_calls == 300 and emu.stats.generate_posts == 300
    assert 1 <= emu.stats.max_in_flight <= 6
    posts = _generation_posts(emu)
    per_second = max(sum(1 for t in posts if start <= t < start + 1.0) for start in posts)
    assert per_second <= 50 + 2, f"{per_second} POSTs within one second; the job's limit is 50/s"
    (summary,) = [s for s in client.jobs() if s["name"] == "cluster-300"]
    assert (summary["saved"], summary["never_sent"]) == (300, 0)

    logs = str(dask_client.get_worker_logs()) + str(dask_client.get_scheduler_logs())
    assert emu.api_key not in logs

    again = client.generate_many(prompts, job="cluster-300", executor=dask_client, progress=False)
    assert emu.stats.generate_posts == 300, "a finished job is answered from the driver's journal"
    assert [r.paths for r in again] == [r.paths for r in results]


def test_bad_executor_and_options_are_refused_before_anything_is_sent(
    emu: Emulator, client: xj.Client, dask_client: Any
) -> None:
    with pytest.raises(xj.InvalidRequestError, match="executor.*distributed.Client"):
        client.generate_many(["a fox"], executor=object())
    with pytest.raises(xj.InvalidRequestError, match="aspect_ratio"):
        client.generate_many(["a fox"], executor=dask_client, aspect_ratio="5:4")
    assert emu.stats.generate_posts == 0


def test_output_on_a_file_url(emu: Emulator, make_client: Callable[..., xj.Client], dask_client: Any, tmp_path: Path) -> None:
    client = make_client(output_dir=f"file://{tmp_path}/shared")
    results = client.generate_many([f"owl {i}" for i in range(6)], executor=dask_client, progress=False)
    assert all(isinstance(r, xj.GenerationResult) for r in results)
    assert {r.path.parent for r in results} == {tmp_path / "shared"}
    assert results[0].image.size == (1024, 1024)


def test_output_on_s3_is_written_by_the_workers_and_read_back_through_fsspec(
    emu: Emulator, make_client: Callable[..., xj.Client], dask_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    import io

    import s3fs
    from PIL import Image

    client = make_client(output_dir="s3://results/run-1")
    results = client.generate_many([f"heron {i}" for i in range(8)], job="to-s3", executor=dask_client, progress=False)
    assert all(isinstance(r, xj.GenerationResult) for r in results), results
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, **S3_KEY, skip_instance_cache=True)
    stored = sorted(p for p in fs.ls("results/run-1") if p.endswith(".png"))
    assert len(stored) == 8
    assert sorted(str(r.path) for r in results) == sorted(f"s3://{p}" for p in stored)
    with Image.open(io.BytesIO(fs.cat_file(stored[0]))) as image:
        assert image.size == (1024, 1024)
        assert "xenodia" in image.text  # the provenance chunk travelled too
    assert results[0].image.size == (1024, 1024)  # a result opens its remote file
    assert (tmp_path / "outputs" / "journal.sqlite3").exists() or client.store.journal.path.exists()
    assert not list(client.store.root.glob("*.png")), "the images are on S3, only the journal is local"
    history = client.history()
    assert {str(r.path) for r in history} == {str(r.path) for r in results}
    assert history[0].path.exists()


@pytest.mark.parametrize("trusted", [True, False], ids=["keys-trusted", "keys-not-trusted"])
def test_a_worker_killed_mid_job_leaves_every_item_billed_at_most_once(
    make_emulator: Callable[..., Emulator], make_client: Callable[..., xj.Client], dask_client: Any, trusted: bool
) -> None:
    emu = make_emulator(latency=0.4, poll_interval_ms=100)
    client = make_client(api_key=emu.api_key, base_url=emu.base_url, trust_idempotency=trusted, max_in_flight=30)
    prompts = [f"a kite, take {i}" for i in range(120)]
    name = f"killed-{trusted}"
    thread, out = _run_in_thread(
        lambda: client.generate_many(prompts, job=name, executor=dask_client, concurrency=10, progress=False)
    )
    deadline = time.monotonic() + 60
    while emu.stats.billed_calls < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = dask_client.run(os.getpid)
    victim = next(iter(pids.values()))
    os.kill(victim, signal.SIGKILL)
    thread.join(180)
    assert not thread.is_alive(), "the job did not end after a worker was killed"
    assert "error" not in out, out.get("error")
    results = out["result"]
    saved = [r for r in results if isinstance(r, xj.GenerationResult)]
    unknown = [r for r in results if isinstance(r, xj.APIConnectionError) and "outcome unknown" in str(r)]
    assert [r.prompt for r in saved] == [p for p, r in zip(prompts, results, strict=True) if r in saved]
    if trusted:  # an unanswered POST is sent again with its key: the emulator replays it, unbilled
        assert len(saved) == 120, [r for r in results if not isinstance(r, xj.GenerationResult)][:3]
        assert emu.stats.billed_calls == 120
    else:  # never resent: what was maybe billed is said, never paid twice
        assert len(saved) + len(unknown) == 120, [r for r in results if r not in saved and r not in unknown][:3]
        assert emu.stats.billed_calls <= 120
        assert emu.stats.billed_calls >= len(saved)
    billed = emu.stats.billed_calls
    client.generate_many(prompts, job=name, executor=dask_client, progress=False)
    assert emu.stats.billed_calls == billed, "running the job again bills nothing more"


@pytest.mark.parametrize("on_cluster", [True, False], ids=["dask", "local"])
def test_compute_false_returns_a_future_and_leaves_the_caller_free(
    emu: Emulator, client: xj.Client, dask_client: Any, on_cluster: bool
) -> None:
    prompts = [f"a wren, {i}" for i in range(6)]
    future = client.generate_many(
        prompts, job=f"later-{on_cluster}", executor=dask_client if on_cluster else None, compute=False, progress=False
    )
    assert not future.done()  # returned before the first POST was even answered
    results = future.result(timeout=120)
    assert [r.prompt for r in results] == prompts and all(isinstance(r, xj.GenerationResult) for r in results)
    assert emu.stats.billed_calls == 6


def test_a_retry_after_seen_by_one_worker_pauses_the_posts_of_all(
    make_emulator: Callable[..., Emulator], make_client: Callable[..., xj.Client], dask_client: Any
) -> None:
    emu = make_emulator(latency=0.05, poll_interval_ms=50)
    client = make_client(api_key=emu.api_key, base_url=emu.base_url, max_requests_per_minute=300)  # one per 200 ms
    emu.inject("generate", "status", status=429, retry_after=3)
    results = client.generate_many([f"a moth, {i}" for i in range(12)], executor=dask_client, progress=False, timeout=60)
    assert all(isinstance(r, xj.GenerationResult) for r in results), [r for r in results if isinstance(r, Exception)]
    posts = _generation_posts(emu)
    assert len(posts) == 13 and emu.stats.billed_calls == 12  # the refused one was sent again after the pause
    during_pause = [t for t in posts[1:] if t < posts[0] + 2.5]
    # Without the shared pause this would be ~12 POSTs (one per 200 ms); one may have had its turn booked already.
    assert len(during_pause) <= 1, f"{len(during_pause)} POSTs during the 3 s the server asked every worker to wait"


def test_a_job_stopped_on_the_driver_stops_its_workers_and_resumes_later_billed_once(
    make_emulator: Callable[..., Emulator], make_client: Callable[..., xj.Client], dask_client: Any
) -> None:
    emu = make_emulator(latency=0.3, poll_interval_ms=100)
    client = make_client(api_key=emu.api_key, base_url=emu.base_url, trust_idempotency=True, max_in_flight=12)
    prompts = [f"a stork, {i}" for i in range(90)]
    future = client.generate_many(prompts, job="stopped", executor=dask_client, concurrency=6, progress=False, compute=False)
    deadline = time.monotonic() + 60
    while emu.stats.billed_calls < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    future.cancel()  # what interrupting the cell does
    with pytest.raises(BaseException):  # noqa: B017 - cancelled, whichever class the loop gives it
        future.result(timeout=30)
    deadline = time.monotonic() + 30
    while any(dask_client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(dask_client.processing().values()), "partitions still run after the driver stopped the job"
    assert emu.stats.billed_calls < 90

    results = client.generate_many(prompts, job="stopped", executor=dask_client, progress=False)
    assert all(isinstance(r, xj.GenerationResult) for r in results), [r for r in results if isinstance(r, Exception)][:3]
    assert emu.stats.billed_calls == 90, "an item was billed twice across the stop and the resume"


def test_a_local_output_folder_with_workers_on_other_machines_is_warned_about(tmp_path: Path) -> None:
    from xenodia_jupyter.batches.cluster.driver import _warn_if_not_shared

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _warn_if_not_shared(tmp_path, ["tcp://127.0.0.1:4000", f"tcp://{socket.gethostname()}:4001"])
        assert not seen
        _warn_if_not_shared(tmp_path, ["tcp://127.0.0.1:4000", "tcp://10.250.0.7:4000"])
    (warning,) = seen
    assert "10.250.0.7" in str(warning.message) and "s3://" in str(warning.message)


def test_a_hung_worker_cannot_hold_the_job_past_its_deadline(
    make_emulator: Callable[..., Emulator], make_client: Callable[..., xj.Client], dask_client: Any
) -> None:
    """SIGSTOP one worker mid-job (Dask waits minutes for it): the job still ends
    by its deadline, every item on the other workers saved, the hung ones
    reported as what the journal knows of them, none billed twice."""
    emu = make_emulator(latency=0.3, poll_interval_ms=50)
    client = make_client(api_key=emu.api_key, base_url=emu.base_url)
    prompts = [f"a heron, take {i}" for i in range(36)]
    pids = dask_client.run(os.getpid)
    victim = next(iter(pids.values()))
    thread, out = _run_in_thread(
        lambda: client.generate_many(prompts, job="hung", executor=dask_client, concurrency=6, timeout=4,
                                     progress=False)
    )
    deadline = time.monotonic() + 60
    while emu.stats.billed_calls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        thread.join(90)
        took = time.monotonic() - stopped
    finally:
        os.kill(victim, signal.SIGCONT)
    assert not thread.is_alive(), "the job did not end by its deadline"
    assert "error" not in out, out.get("error")
    assert took < 60, took  # the job's deadline here is 2 rounds x 4 s + 10 s, and Dask would wait 300 s
    results = out["result"]
    saved = [r for r in results if isinstance(r, xj.GenerationResult)]
    hung = [r for r in results if not isinstance(r, xj.GenerationResult)]
    assert saved and hung, results
    assert all(isinstance(r, (xj.TaskTimeoutError, xj.APIConnectionError)) for r in hung), hung[:3]
    assert emu.stats.billed_calls <= 36
