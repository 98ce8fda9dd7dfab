"""The ranker widget from Python, over results made over real HTTP against the
emulator: a click message records exactly what `choose` records, the pictures
travel as a custom message (never widget state), and choices survive other
rankers, a new Journal object and a new process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.errors import InvalidRequestError
from xenodia_jupyter.jupyter.ranking import Ranker, rank
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.store.preferences import read_choices


@pytest.fixture
def candidates(client: xj.Client) -> xj.ResultList:
    fox = client.generate_many(["a fox", "a fox"], concurrency=2, aspect_ratio="16:9")
    owl = client.generate_many(["an owl", "an owl"], concurrency=2, aspect_ratio="1:1")
    return xj.ResultList([*fox, *owl])


def _sent(ranker: Ranker, monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], list[bytes]]]:
    sent: list[tuple[dict[str, Any], list[bytes]]] = []

    def record(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        if data.get("method") == "custom":
            sent.append((data["content"], [bytes(b) for b in buffers or []]))

    monkeypatch.setattr(ranker.comm, "send", record)
    return sent


def test_a_click_records_what_choose_records(candidates: xj.ResultList, tmp_path: Path) -> None:
    clicked = rank(candidates)
    journal = clicked.session.journal
    pair = clicked.pair
    assert pair is not None and pair[0].prompt == pair[1].prompt  # the same prompt first
    clicked._message(clicked, {"choice": "right"}, [])
    (click,) = read_choices(journal)
    assert (click.left_id, click.right_id, click.choice) == (pair[0].journal_id, pair[1].journal_id, "right")
    coded = rank(candidates, output_dir=tmp_path / "outputs")  # another ranker on the same journal
    first = coded.pair
    assert first is not None and {r.journal_id for r in first} != {click.left_id, click.right_id}  # already decided
    coded.choose("tie")
    assert read_choices(journal)[-1][:3] == (first[0].journal_id, first[1].journal_id, "tie")
    assert clicked.progress == "1 of 6 pairs" and coded.progress == "2 of 6 pairs"


def test_the_widget_shows_the_prompts_and_the_parameters_that_differ(candidates: xj.ResultList) -> None:
    ranker = rank(candidates)
    assert ranker.shared == "Both: a fox" and ranker.note == "Same parameters: 16:9."
    while ranker.pair is not None and ranker.pair[0].prompt == ranker.pair[1].prompt:
        ranker.choose("left")
    left, right = ranker.pair or (None, None)
    assert ranker.shared == "" and [side["prompt"] for side in ranker.sides] == [left.prompt, right.prompt]
    assert [side["facts"] for side in ranker.sides] == [[["aspect ratio", left.aspect_ratio]], [["aspect ratio", right.aspect_ratio]]]
    assert ranker.note == "" and not ranker.done


def test_the_pictures_are_small_jpegs_sent_as_a_message_not_state(
    candidates: xj.ResultList, monkeypatch: pytest.MonkeyPatch, emu: Emulator
) -> None:
    ranker = rank(candidates)
    sent = _sent(ranker, monkeypatch)
    ranker._message(ranker, {"want": "previews"}, [])  # a view opened
    ((content, buffers),) = sent
    assert content == {"kind": "previews", "pair_key": ranker.pair_key}
    for data in buffers:
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and max(image.size) <= 512
    ranker.choose("left")
    assert sent[-1][0]["pair_key"] == ranker.pair_key != content["pair_key"]  # the next pair's, at once
    state = json.dumps(ranker.get_state(), default=str)
    assert len(state) - len(ranker._esm) - len(ranker._css) < 2000, "the widget state holds words only"
    assert emu.api_key not in state


def test_every_pair_once_then_done(candidates: xj.ResultList) -> None:
    ranker = rank(candidates)
    seen = []
    while ranker.pair is not None:
        seen.append(frozenset(r.journal_id for r in ranker.pair))
        ranker.choose("skip" if len(seen) == 3 else "left")
    assert len(seen) == len(set(seen)) == 6
    assert ranker.done and ranker.progress == "6 of 6 pairs" and ranker.sides == []
    with pytest.raises(InvalidRequestError, match="every pair is judged"):
        ranker.choose("left")
    ranker._message(ranker, {"choice": "left"}, [])  # a late click: a message in the widget, not an exception
    assert "every pair is judged" in ranker.status


def test_ranking_follows_the_choices(candidates: xj.ResultList) -> None:
    best = candidates[3]
    ranker = rank(candidates)
    while ranker.pair is not None:
        left, right = ranker.pair
        ranker.choose("left" if left is best else "right" if right is best else "tie")
    assert ranker.ranking()[0] is best
    table = ranker.scores()
    assert table.index[0] == best.journal_id and table.loc[best.journal_id, "wins"] == 3


def test_bad_input_is_refused(candidates: xj.ResultList, emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(InvalidRequestError, match="at least 2"):
        rank(candidates[:1])
    with pytest.raises(InvalidRequestError, match="at least 2"):
        rank([candidates[0], candidates[0]])  # the same result twice is one result
    with pytest.raises(InvalidRequestError) as raised:
        rank(candidates).choose("both")
    assert raised.value.field == "choice"
    emu.inject("generate", "status", status=402)
    mixed = client.generate_many(["refused", "a hare", "a hen"], concurrency=1)
    assert len(rank(mixed).results) == 2  # the failed item is left out


def test_choices_survive_a_new_journal_object_and_a_new_process(candidates: xj.ResultList, tmp_path: Path) -> None:
    folder = tmp_path / "outputs"
    first = rank(candidates)
    first.choose("left")
    first.choose("right")
    first.session.journal.close()
    reopened = Journal(folder / "journal.sqlite3")
    assert len(read_choices(reopened)) == 2
    ids = [r.journal_id for r in candidates]
    script = (
        "import json, sys\n"
        "from xenodia_jupyter.jupyter.ranking import rank\n"
        "ranker = rank(json.loads(sys.argv[1]), output_dir=sys.argv[2])\n"
        "before = ranker.progress\n"
        "while ranker.pair is not None:\n"
        "    ranker.choose('tie')\n"
        "print(json.dumps([before, ranker.progress]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(ids), str(folder)], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == ["2 of 6 pairs", "6 of 6 pairs"]
    assert [c.choice for c in read_choices(reopened)] == ["left", "right", "tie", "tie", "tie", "tie"]
    assert rank(candidates).done
