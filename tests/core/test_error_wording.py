"""Every error says what happened (`headline`) and what to do next (`advice`)
in plain words, shown the same way by the magic and the panel
(`markup.error_html` / `error_text`), and none of it ever holds the API key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter import errors
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.jupyter.display import error_box
from xenodia_jupyter.jupyter.markup import error_html, error_text

KEY = "wording-test-secret-key-5b21f0"

api = {"status_code": 400, "code": "bad", "request_id": "req_1"}

# (the error, words its headline has, words its advice has)
CASES: list[tuple[errors.XenodiaError, str, str]] = [
    (errors.XenodiaError("odd"), "Something went wrong", "details are below"),
    (errors.InvalidRequestError("resolution", "'auto' allows only '1K'"), "breaks a rule, so nothing was sent", "Fix resolution"),
    (errors.InvalidRequestError("prompt", "must not be empty or only white space"), "Write a prompt first", "The prompt must not be empty"),
    (errors.InvalidRequestError("api_key", "no API key"), "No API key is set", "Set XENODIA_API_KEY"),
    (errors.InvalidRequestError("references", "reference (a.gif) is a GIF image"), "A reference cannot be used", "a.gif"),
    (errors.BudgetExceededError(0.98, 0.07, 1.0), "Over budget: nothing was sent", "$0.07 and $0.98 of the $1.00"),
    (errors.APIError("nope", **api), "The server refused the request (400)", "change the request"),
    (errors.AuthenticationError("bad key", **{**api, "status_code": 401}), "API key was refused (401)", "Check XENODIA_API_KEY"),
    (errors.PaymentRequiredError("broke", **{**api, "status_code": 402}), "out of balance (402)", "Top up"),
    (errors.NotFoundError("gone", **{**api, "status_code": 404}), "Not found (404)", "xj.history()"),
    (errors.ConflictError("used", **{**api, "status_code": 409}), "repeated request key (409)", "Nothing new was billed"),
    (errors.RateLimitError("slow down", retry_after=7, **{**api, "status_code": 429}), "Too many requests", "Wait 7 s"),
    (errors.UpstreamError("bad gateway", **{**api, "status_code": 502}), "failed (502); nothing was generated", "try again"),
    (errors.APIConnectionError("could not reach"), "Could not talk to the image service", "XENODIA_BASE_URL"),
    (errors.APIResponseError("not JSON"), "does not document", "report the details"),
    (errors.GenerationFailedError("task_1", {"message": "NSFW"}), "failed on the server", "other words or references"),
    (errors.TaskTimeoutError("task_2", "generating", 0.5), "Stopped waiting after 0.5 s", "xj.recover()"),
    (errors.StorageError("disk full", path="/x/journal.sqlite3", task_id="task_3"), "could not be used", "xj.recover()"),
]


@pytest.mark.parametrize(("error", "headline", "advice"), CASES, ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "")
def test_headline_and_advice_read_right(error: errors.XenodiaError, headline: str, advice: str) -> None:
    assert headline in error.headline
    assert advice in error.advice
    assert error.headline[0].isupper() and error.headline.endswith(".")
    assert error.advice and error.advice != error.headline


def test_every_error_class_has_its_own_wording() -> None:
    classes = {getattr(errors, name) for name in errors.__all__}
    assert classes == {type(error) for error, _h, _a in CASES}
    headlines = {type(error): error.headline for error, _h, _a in CASES if type(error) is not errors.InvalidRequestError}
    assert len(set(headlines.values())) == len(headlines)


@pytest.mark.parametrize(
    "error",
    [
        errors.TaskTimeoutError("task_9", "waiting", 600),
        errors.APIConnectionError("download dropped", task_id="task_9"),
        errors.APIResponseError("poll answer not JSON", task_id="task_9"),
        errors.UpstreamError("gateway", status_code=502, task_id="task_9"),
        errors.RateLimitError("poll limit", status_code=429, task_id="task_9"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_task_the_server_holds_is_pointed_to_recover(error: errors.XenodiaError) -> None:
    assert "task_9" in error.advice
    assert "xj.recover()" in error.advice and "without paying again" in error.advice


def test_a_timeout_before_a_task_id_says_where_to_look() -> None:
    error = errors.TaskTimeoutError(None, None, 30)
    assert "Stopped waiting after 30 s" in error.headline
    assert "xj.recover()" in error.advice and "None" not in error.advice


def test_error_text_and_html_show_the_words_then_the_type_and_message() -> None:
    error = errors.PaymentRequiredError("<b>broke</b>", status_code=402, request_id="req_7")
    lines = error_text(error).splitlines()
    assert lines == [error.headline, error.advice, f"PaymentRequiredError: {error}"]
    shown = error_html(error)
    assert error.headline in shown and error.advice in shown and "PaymentRequiredError" in shown
    assert "&lt;b&gt;broke&lt;/b&gt;" in shown and "<b>broke</b>" not in shown  # the server's words are escaped
    assert error_box(error).data == shown  # the magic shows the same box


def test_an_unexpected_error_is_shown_too() -> None:
    assert error_text(KeyError("x")).splitlines() == [
        "Something unexpected went wrong.",
        "The details are below; the panel and the kernel go on working.",
        "KeyError: 'x'",
    ]


# Real errors from a client holding a key ------------------------------------------------------


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(latency=0.05, api_key=KEY)


def _caught(call: Callable[[], object]) -> errors.XenodiaError:
    with pytest.raises(errors.XenodiaError) as caught:
        call()
    return caught.value


FAULTS: dict[str, tuple[type[errors.XenodiaError], Callable[[Emulator], None], dict[str, object]]] = {
    "401": (errors.AuthenticationError, lambda emu: None, {"api_key": "wrong-" + KEY}),
    "no key": (errors.InvalidRequestError, lambda emu: None, {"api_key": ""}),
    "402": (errors.PaymentRequiredError, lambda emu: emu.inject("generate", "status", status=402), {}),
    "429": (errors.RateLimitError, lambda emu: emu.inject("generate", "status", status=429, retry_after=2), {}),
    "502": (errors.UpstreamError, lambda emu: emu.inject("generate", "status", status=502), {}),
    "404": (errors.NotFoundError, lambda emu: emu.inject("poll", "status", status=404), {}),
    "fail": (errors.GenerationFailedError, lambda emu: emu.next_task("fail"), {}),
    "timeout": (errors.TaskTimeoutError, lambda emu: emu.next_task("stuck"), {"timeout": 0.5}),
    "malformed": (errors.APIResponseError, lambda emu: emu.inject("poll", "malformed"), {}),
    "dropped": (errors.APIConnectionError, lambda emu: emu.inject("download", "drop", count=5), {}),
    "budget": (errors.BudgetExceededError, lambda emu: None, {"budget_usd": 0.01}),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_no_wording_of_a_real_error_holds_the_key(
    fault: str, emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path
) -> None:
    expected, arrange, given = FAULTS[fault]
    options = dict(given)
    timeout = options.pop("timeout", None)
    client = make_client(max_retries=0, **options)
    arrange(emu)
    error = _caught(lambda: client.generate("a key-free prompt", timeout=timeout))
    assert type(error) is expected
    for shown in (error.headline, error.advice, error_text(error), error_html(error)):
        assert KEY not in shown and "Bearer" not in shown
