"""`%xenodia search` in a real kernel against the emulator: the library as a gallery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nbkernel import KernelSession, error_output

from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.jupyter.magics.search import search_arguments

KEY = "magic-search-secret-key-2c41"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    with Emulator(latency=0.05, poll_interval_ms=20) as emu:
        cwd = tmp_path_factory.mktemp("search")
        env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(cwd / "out")}
        with KernelSession(cwd, env) as session:
            session.run(
                "%load_ext xenodia_jupyter\nimport xenodia_jupyter as xj\n"
                "made = xj.generate_many(['a lighthouse at dusk', 'a lighthouse in fog', 'an ink wash fox'],"
                " job='catalog', progress=False)\n"
                "xj.generate('a lighthouse, not in the job')\n"
                "xj.library().rate(made[1], 1)"
            )
            yield session


def test_search_shows_a_gallery_and_binds_it(kernel: KernelSession) -> None:
    cell = kernel.run("%xenodia search lighthouse --starred --job catalog --limit 50 -o hits")
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)
    assert kernel.value("type(hits).__name__") == "Gallery"
    assert kernel.value("[r.prompt for r in hits.items]") == ["a lighthouse in fog"]


def test_words_phrases_and_filters_reach_the_library(kernel: KernelSession) -> None:
    kernel.run("%xenodia search lighthouse -o every")
    assert sorted(kernel.value("[r.prompt for r in every.items]")) == [
        "a lighthouse at dusk", "a lighthouse in fog", "a lighthouse, not in the job",
    ]
    kernel.run("%xenodia search '\"ink wash\"' --job catalog -o ink")
    assert kernel.value("[r.prompt for r in ink.items]") == ["an ink wash fox"]


def test_bad_options_are_usage_errors_that_name_them(kernel: KernelSession) -> None:
    cell = kernel.run("%xenodia search lighthouse --limit many", expect_error=True)
    assert "--limit" in str(error_output(cell))
    cell = kernel.run("%xenodia search --since yesterday-ish", expect_error=True)
    assert "since" in str(error_output(cell))
    cell = kernel.run("%xenodia search 'an unclosed quote", expect_error=True)
    assert "quotation" in str(error_output(cell))


def test_the_line_is_parsed_like_a_shell_line() -> None:
    keywords, out = search_arguments(' "ink wash" fox --hide-rejected -a 16:9 -o hits')
    assert keywords["text"] == '"ink wash" fox' and keywords["rejected"] is False
    assert keywords["aspect_ratio"] == "16:9" and out == "hits"
    assert search_arguments("")[0]["text"] is None
