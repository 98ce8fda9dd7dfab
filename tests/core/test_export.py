"""Results out of the notebook: pandas rows, and a Parquet dataset that
Hugging Face `datasets` reads with its images (both real round trips)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator


@pytest.fixture
def batch(emu: Emulator, client: xj.Client) -> xj.ResultList:
    emu.inject("generate", "status", status=402)
    return client.generate_many(["refused", "a fox", "an owl"], concurrency=1, job="export", aspect_ratio="4:3")


def test_to_pandas_has_a_row_per_image_and_keeps_failures(batch: xj.ResultList) -> None:
    frame = batch.to_pandas()
    assert list(frame["index"]) == [0, 1, 2] and list(frame["job"]) == ["export"] * 3
    assert frame.loc[0, "error"].startswith("PaymentRequiredError") and frame.isna().loc[0, "path"]
    ok = frame.iloc[1:]
    assert list(ok["prompt"]) == ["a fox", "an owl"] and set(ok["aspect_ratio"]) == {"4:3"}
    assert list(ok["width"]) == [1024, 1024] and list(ok["height"]) == [768, 768]
    assert ok["cost_usd"].sum() == pytest.approx(0.14) and not ok["cached"].any()
    assert all(Path(p).exists() for p in ok["path"])


def test_the_parquet_file_is_a_hugging_face_image_dataset(batch: xj.ResultList, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    (written,) = batch.to_parquet(tmp_path / "ideas.parquet")
    loaded = datasets.load_dataset("parquet", data_files=str(written), cache_dir=str(tmp_path / "cache"))["train"]
    assert loaded.num_rows == 3
    image = loaded[1]["image"]
    assert image.size == (1024, 768) and loaded[1]["prompt"] == "a fox"
    assert loaded[0]["image"] is None and "PaymentRequiredError" in loaded[0]["error"]


def test_shards_of_rows_per_file(batch: xj.ResultList, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    written = batch.to_parquet(tmp_path / "shards", rows_per_file=2)
    assert [p.name for p in written] == ["part-00000.parquet", "part-00001.parquet"]
    assert sum(pq.read_table(p).num_rows for p in written) == 3
    without = batch.to_parquet(tmp_path / "refs.parquet", embed_images=False)
    assert pq.read_table(without[0]).column("image").to_pylist()[1]["bytes"] is None


def test_a_thumbnail_column_stays_small(batch: xj.ResultList) -> None:
    frame = batch.to_pandas()
    page = xj.thumbnail_column(frame).to_html()
    assert page.count("data:image/jpeg;base64,") == 2
    assert len(page) < 3 * 3000 + 5000, "about 3 KB a row"


def test_ratings_reach_history_and_the_table(emu: Emulator, client: xj.Client) -> None:
    result = client.generate("starred")
    client.store.journal.rate(result.journal_id, 1)
    (again,) = client.history(limit=1)
    assert again.rating == 1
    assert list(client.history(limit=1).to_pandas()["rating"]) == [1]


def test_images_are_written_a_row_group_at_a_time_and_read_back_whole(
    batch: xj.ResultList, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    from xenodia_jupyter.core import export

    monkeypatch.setattr(export, "ROW_GROUP_BYTES", 1)  # every image flushes its row group: memory holds one
    (path,) = batch.to_parquet(tmp_path / "groups.parquet")
    assert pq.ParquetFile(path).metadata.num_row_groups == 2  # the failed row rides with the next image
    images = pq.read_table(path).column("image").to_pylist()
    assert images[0] is None  # the failed item keeps its row, without an image
    assert [i["bytes"] for i in images[1:]] == [r.path.read_bytes() for r in batch[1:]]
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).statistics is None  # no copies of images as min/max


def test_an_existing_export_is_kept_unless_overwrite_is_asked(emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path) -> None:
    batch = make_client().generate_many(["a", "b"], progress=False)
    target = tmp_path / "kept.parquet"
    target.write_bytes(b"an earlier export")
    with pytest.raises(xj.InvalidRequestError, match="overwrite=True"):
        batch.to_parquet(target)
    assert target.read_bytes() == b"an earlier export"
    (written,) = batch.to_parquet(target, overwrite=True)
    assert written == target and pq.read_table(target).num_rows == 2
    shards = tmp_path / "shards"
    batch.to_parquet(shards, rows_per_file=1)
    with pytest.raises(xj.InvalidRequestError, match="part-00000.parquet exists"):
        batch.to_parquet(shards, rows_per_file=1)


def test_a_failed_export_leaves_the_earlier_one_whole(
    emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk in the middle of writing: the good export that was there stays."""
    import pyarrow.parquet as parquet

    batch = make_client().generate_many(["a", "b", "c"], progress=False)
    target = tmp_path / "good.parquet"
    batch.to_parquet(target)
    good = target.read_bytes()

    def full(self: object, table: object, *args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet.ParquetWriter, "write_table", full)
    with pytest.raises(OSError, match="No space"):
        batch.to_parquet(target, overwrite=True)
    assert target.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_a_failed_row_keeps_its_prompt_and_a_slice_is_still_a_result_list(batch: xj.ResultList) -> None:
    frame = batch.to_pandas()
    assert frame.loc[0, "prompt"] == "refused"  # the table says which prompt failed
    first = batch[:2]
    assert isinstance(first, xj.ResultList) and first.job == "export" and len(first) == 2
    assert "<img" in first._repr_html_()  # thumbnails, not a plain list's repr
    assert first.to_pandas().loc[0, "prompt"] == "refused"
    assert isinstance(batch[1], xj.GenerationResult)


def test_captions_keep_each_fact_whole_and_show_the_full_text_on_hover(emu: Emulator, client: xj.Client) -> None:
    result = client.generate("a caption that must fit")
    html_text = result._repr_html_()
    assert f'title="1024x1024 · {result.task_id} · $0.07"' in html_text  # all of it, on hover
    assert '<span style="white-space:nowrap">1024x1024</span>' in html_text  # never split from its neighbours
    assert f">{result.task_id}<" not in html_text and f">{result.task_id[:17]}…<" in html_text  # shortened on screen
