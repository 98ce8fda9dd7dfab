"""The core's seams: the budget, the one retry policy, preparing a batch's
references once, the journal's states, and the kernel's shared settings.
Over real HTTP against the emulator, except the pure policy checks."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.core import preparer as preparation
from xenodia_jupyter.core.budget import Budget
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.errors import APIError
from xenodia_jupyter.store.entries import RECOVERABLE, JournalState, parse_state
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.wire.transport import Refused, RetryPolicy

# The budget ---------------------------------------------------------------------------------


def test_a_recovered_failure_gives_back_nothing_this_session_reserved(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    emu.state.latency = 0.6
    emu.next_task("fail")
    first = make_client()
    with pytest.raises(xj.TaskTimeoutError):
        first.generate("fails later", timeout=0.2)  # journaled, then it fails on the server
    first.close()

    session = make_client(budget_usd=0.10)
    session.generate("paid for")
    assert session.spent_usd == pytest.approx(0.07)
    (failed,) = session.recover(timeout=10)
    assert isinstance(failed, xj.GenerationFailedError)
    assert session.spent_usd == pytest.approx(0.07), "a task this session never reserved was 'given back'"
    with pytest.raises(xj.BudgetExceededError):
        session.generate("one more would pass $0.10")


def test_budget_reservations_are_given_back_or_settled_once() -> None:
    budget = Budget(0.20)
    held = budget.reserve(0.07)
    budget.release(held)
    budget.release(held)
    assert budget.spent_usd == 0.0
    held = budget.reserve(0.07)
    budget.settle(held, 0.05)
    budget.release(held)  # already settled: nothing more to give back
    assert budget.spent_usd == pytest.approx(0.05)
    with pytest.raises(xj.BudgetExceededError):
        budget.check(0.16)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), "10", True])
def test_a_budget_must_be_a_finite_positive_number(bad: object) -> None:
    with pytest.raises(xj.InvalidRequestError, match="budget_usd"):
        Budget(bad)  # type: ignore[arg-type]


# The retry policy -------------------------------------------------------------------------


def _refused(status: int, retry_after: float | None = None) -> Refused:
    return Refused(APIError("no", status_code=status), retry_after)


@pytest.mark.parametrize(
    ("failure", "post", "get"),
    [
        (httpx.ConnectError("refused"), True, True),  # never left: safe for both
        (httpx.ReadTimeout("sent"), False, True),  # may have arrived: only a GET again
        (httpx.RemoteProtocolError("dropped"), False, True),
        (_refused(429, 2.0), True, True),
        (_refused(503, 2.0), True, True),
        (_refused(429), False, True),  # a POST needs Retry-After
        (_refused(502), False, True),
        (_refused(500, 2.0), False, True),
        (_refused(400), False, False),
        (_refused(401), False, False),
    ],
)
def test_the_billing_rule_is_one_predicate(failure: Exception, post: bool, get: bool) -> None:
    policy = RetryPolicy()
    assert policy.should_retry(failure, idempotent=False) is post
    assert policy.should_retry(failure, idempotent=True) is get


def test_a_retry_after_past_the_deadline_ends_the_call_now() -> None:
    import time

    policy = RetryPolicy()
    assert policy.retry_delay(0, _refused(429, 30.0), deadline=time.monotonic() + 5) is None
    assert policy.retry_delay(0, _refused(429, 1.0), deadline=time.monotonic() + 5) == 1.0
    assert policy.retry_delay(0, _refused(429, 1.0), deadline=time.monotonic() - 1) is None


def test_a_download_honours_retry_after_and_the_deadline(emu: Emulator, client: xj.Client) -> None:
    emu.inject("download", "status", status=503, retry_after=60, count=10)
    with pytest.raises(xj.UpstreamError):
        client.generate("the CDN asks for a minute", timeout=5)
    downloads = [r for r in emu.requests if r.origin == "cdn"]
    assert len(downloads) == 1, "it retried although the server asked for more time than the call had"
    (entry,) = client.store.journal.entries()
    assert entry.recoverable and entry.state == JournalState.SUCCEEDED  # paid: recover() saves it later


# Batches ------------------------------------------------------------------------------------


def test_generate_many_prepares_shared_references_once(
    emu: Emulator, client: xj.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from PIL import Image

    calls: list[object] = []
    real = preparation.prepare_references

    def counting(refs: object, **kw: object) -> object:
        calls.append(refs)
        return real(refs, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(preparation, "prepare_references", counting)
    sketch = Image.new("RGB", (64, 64), "teal")
    results = client.generate_many([f"prompt {i}" for i in range(5)], references=[sketch], concurrency=2)
    assert all(isinstance(r, xj.GenerationResult) for r in results)
    assert len(calls) == 1
    posts = [r for r in emu.requests if r.path == "/v1/images/generations"]
    assert len(posts) == 5 and emu.last_generation["files"][0]["content_type"] == "image/png"


def test_generate_many_refuses_a_bare_string(emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(xj.InvalidRequestError, match="prompts"):
        client.generate_many("sunset")
    assert emu.stats.generate_posts == 0


# The journal --------------------------------------------------------------------------------


def test_only_listed_states_are_recoverable(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    ids = {}
    for state in ["accepted", "saved", "refused", "fail", "acepted", "generating"]:
        ids[state] = journal.begin(base_url="http://x", prompt=state, params={}, refs=[])
        journal.update(ids[state], state=state, task_id=f"task_{state}")
    recoverable = {e.prompt for e in journal.entries() if e.recoverable}
    assert recoverable == {"accepted", "generating"}  # "generating": an older journal's server state
    assert parse_state("acepted") == "acepted" and parse_state("acepted") not in RECOVERABLE
    journal.close()


def test_the_servers_last_state_has_its_own_column(emu: Emulator, client: xj.Client) -> None:
    emu.state.latency = 0.5
    client.generate("watched")
    (entry,) = client.store.journal.entries()
    assert entry.state == JournalState.SAVED and entry.server_state == "success"


def test_an_older_journal_gains_the_column_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "journal.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE generations (id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
        " base_url TEXT NOT NULL, prompt TEXT NOT NULL, params TEXT NOT NULL, refs TEXT NOT NULL,"
        " state TEXT NOT NULL, task_id TEXT, request_id TEXT, urls TEXT, paths TEXT, cost_usd REAL, error TEXT)"
    )
    conn.execute("INSERT INTO generations VALUES ('a', 1, 1, 'http://x', 'old', '{}', '[]', 'waiting', 'task_a',"
                 " NULL, NULL, NULL, NULL, NULL)")
    conn.commit()
    conn.close()
    journal = Journal(path)
    (entry,) = journal.entries()
    assert entry.state == JournalState.ACCEPTED and entry.recoverable and entry.server_state is None
    journal.close()


# Kernel settings ------------------------------------------------------------------------------


def test_kernel_clients_share_one_budget_that_follows_the_settings(tmp_path: Path) -> None:
    from xenodia_jupyter.jupyter.engine import kernel_client, shutdown
    from xenodia_jupyter.jupyter.settings import kernel_settings

    settings = kernel_settings()
    try:
        settings.budget_usd = 0.5
        magic = kernel_client()
        panel = kernel_client(output_dir=str(tmp_path / "elsewhere"))
        assert magic.budget is panel.budget and magic.budget_usd == 0.5
        kernel_client()  # asking again changes nothing (it used to overwrite the limit)
        assert panel.budget_usd == 0.5
        settings.budget_usd = None
        assert magic.budget_usd is None
    finally:
        settings.budget_usd = None
        shutdown()


# The public surface ---------------------------------------------------------------------------


def test_all_the_lazy_table_and_type_checking_imports_agree() -> None:
    tree = ast.parse(Path(xj.__file__).read_text())
    lazy = set(xj._LAZY)
    checked: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    checked |= {alias.name for alias in stmt.names}
    annotation_only = {"Callable", "Iterable", "Panel"}  # used in signatures, not exported lazily
    assert checked - annotation_only == lazy
    assert lazy <= set(xj.__all__)
    import xenodia_jupyter.client.async_client  # noqa: F401  (loads every submodule the client uses)

    for name in xj.__all__:
        assert getattr(xj, name) is not None, name
    import xenodia_jupyter.batches.sweeps  # noqa: F401
    import xenodia_jupyter.store.journal  # noqa: F401

    for name in ("generate", "generate_many", "sweep", "recover", "history", "jobs", "panel", "provenance"):
        assert callable(getattr(xj, name)), f"xj.{name} is shadowed by a submodule"


def test_the_blocking_client_has_real_signatures() -> None:
    import inspect

    for name in ("generate", "prepare", "retrieve", "generate_many", "recover"):
        params = inspect.signature(getattr(xj.Client, name)).parameters
        assert "aspect_ratio" in params or name in ("retrieve", "recover", "generate_many"), name
        assert getattr(xj.Client, name).__doc__, name
    assert "timeout" in inspect.signature(xj.recover).parameters
    assert "concurrency" in inspect.signature(xj.generate_many).parameters


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "10"])
def test_timeouts_are_checked_before_anything_is_sent(emu: Emulator, make_client: Callable[..., xj.Client], bad: object) -> None:
    with pytest.raises(xj.InvalidRequestError, match="timeout"):
        make_client(timeout=bad)
    client = make_client()
    with pytest.raises(xj.InvalidRequestError, match="timeout"):
        client.generate("x", timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(xj.InvalidRequestError, match="timeout"):
        client.generate_many(["x", "y"], timeout=bad)  # type: ignore[arg-type]
    assert emu.stats.generate_posts == 0


def test_a_prompt_that_cannot_be_utf8_is_refused(emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(xj.InvalidRequestError, match="UTF-8"):
        client.generate("a lone \ud800 surrogate")
    assert emu.stats.generate_posts == 0


def test_with_no_key_the_real_api_is_not_asked_for_its_catalogue(tmp_path: Path) -> None:
    asked: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:  # the real API cannot be reached from here
        asked.append(str(request.url))
        return httpx.Response(500)

    with xj.Client(api_key="", output_dir=tmp_path, transport=httpx.MockTransport(record)) as client:
        plan = client.prepare("a dry run needs no key", aspect_ratio="16:9")
    assert plan.price_usd == pytest.approx(0.07) and asked == []
