"""The preference data set and the scores, from results made over real HTTP
against the emulator: one row per decided pair, the Parquet file that
Hugging Face `datasets` reads as images, scores limited to some results."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.core.preferences import preferences, scores
from xenodia_jupyter.errors import InvalidRequestError
from xenodia_jupyter.jupyter.ranking import rank

COLUMNS = ["prompt", "chosen", "rejected", "chosen_id", "rejected_id", "tie", "decided_at"]


@pytest.fixture
def candidates(client: xj.Client) -> xj.ResultList:
    return client.generate_many(["a fox", "a fox", "an owl", "an owl"], concurrency=2, aspect_ratio="4:3")


def _judge_all(ranker: object, rule: object) -> list[tuple[str, str, str]]:
    made = []
    while ranker.pair is not None:  # type: ignore[attr-defined]
        left, right = ranker.pair  # type: ignore[attr-defined]
        choice = rule(left, right)  # type: ignore[operator]
        made.append((left.journal_id, right.journal_id, choice))
        ranker.choose(choice)  # type: ignore[attr-defined]
    return made


def test_one_row_per_decided_pair_with_the_chosen_results_prompt(candidates: xj.ResultList, tmp_path: Path) -> None:
    ranker = rank(candidates)
    skipped = frozenset(r.journal_id for r in ranker.pair)
    ranker.choose("skip")
    made = _judge_all(ranker, lambda left, right: "tie" if left.prompt == right.prompt else "right")
    frame = preferences(tmp_path / "outputs").to_pandas()
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(made) == 5  # a skip is no row
    later = rank(candidates)  # a new ranker offers the skipped pair again, and only it
    assert later.session.progress == "5 of 6 pairs" and frozenset(r.journal_id for r in later.pair) == skipped
    by_pair = {frozenset((r.chosen_id, r.rejected_id)): r for r in frame.itertuples()}
    for left, right, choice in made:
        row = by_pair[frozenset((left, right))]
        assert row.tie == (choice == "tie")
        assert row.chosen_id == (right if choice == "right" else left)
        chosen = next(r for r in candidates if r.journal_id == row.chosen_id)
        assert row.prompt == chosen.prompt and Path(row.chosen) == chosen.paths[0]
    assert frame["decided_at"].is_monotonic_increasing


def test_the_parquet_file_is_a_dpo_style_image_dataset(candidates: xj.ResultList, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    _judge_all(rank(candidates), lambda left, right: "left")
    written = preferences(tmp_path / "outputs").to_parquet(tmp_path / "prefs.parquet")
    loaded = datasets.load_dataset("parquet", data_files=str(written), cache_dir=str(tmp_path / "cache"))["train"]
    assert loaded.num_rows == 6 and loaded.column_names == COLUMNS
    assert type(loaded.features["chosen"]).__name__ == "Image"
    first = loaded[0]
    assert first["chosen"].size == first["rejected"].size == (1024, 768)
    assert first["tie"] is False and first["prompt"] in ("a fox", "an owl")
    with pytest.raises(InvalidRequestError):
        preferences(tmp_path / "outputs").to_parquet(written)  # no overwrite by default
    assert pq.read_table(preferences(tmp_path / "outputs").to_parquet(written, overwrite=True)).num_rows == 6


def test_an_empty_set_is_a_file_with_the_schema(tmp_path: Path) -> None:
    written = preferences(tmp_path / "nothing").to_parquet(tmp_path / "empty.parquet")
    table = pq.read_table(written)
    assert table.num_rows == 0 and table.column_names == COLUMNS
    assert b"huggingface" in table.schema.metadata


def test_scores_of_some_results_count_only_the_choices_between_them(candidates: xj.ResultList) -> None:
    best = candidates[2]
    _judge_all(rank(candidates), lambda left, right: "left" if left is best else "right" if right is best else "tie")
    table = scores()
    assert table.index[0] == best.journal_id
    assert table.loc[best.journal_id, "wins"] == 3 and table.loc[best.journal_id, "losses"] == 0
    assert table["comparisons"].tolist() == [3, 3, 3, 3]
    some = scores(candidates[:2])
    assert set(some.index) == {candidates[0].journal_id, candidates[1].journal_id}
    assert some["comparisons"].tolist() == [1, 1] and some["ties"].tolist() == [1, 1]
    assert list(scores(candidates.to_pandas()).index) == list(table.index)  # a DataFrame with journal_id works too


def test_a_ranker_records_into_the_folder_beside_its_results(make_client: object, tmp_path: Path) -> None:
    elsewhere = make_client(output_dir=tmp_path / "elsewhere")  # type: ignore[operator]
    results = elsewhere.generate_many(["a hare", "a hen"], concurrency=2)
    rank(results).choose("right")
    (row,) = preferences(tmp_path / "elsewhere").to_pandas().itertuples()
    assert (row.chosen_id, row.rejected_id, row.tie) == (results[1].journal_id, results[0].journal_id, False)
    assert preferences().to_pandas().empty  # the default folder holds none of it
    assert scores(results).index[0] == results[1].journal_id


def test_no_choices_yet_is_an_empty_table_with_the_columns(tmp_path: Path) -> None:
    table = scores(output_dir=tmp_path / "fresh")
    assert table.empty and list(table.columns) == ["score", "wins", "losses", "ties", "comparisons"]
    assert len(preferences(tmp_path / "fresh")) == 0
