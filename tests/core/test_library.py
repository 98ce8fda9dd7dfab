"""The library: search, ratings, recipes, remix and lineage, over real HTTP
against the emulator, read back from the journal (in a new process too)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

import xenodia_jupyter as xj
from xenodia_jupyter import Client, InvalidRequestError
from xenodia_jupyter.core.library import Library
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.search import match_expression

PROMPTS = [
    "A lighthouse at dusk, ink wash",
    "a LIGHTHOUSE in fog, watercolour",
    "Ink and wash study of a fox",
    "wash the dishes, still life",
]


def _png(colour: tuple[int, int, int], size: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def filled(make_client: Callable[..., Client]) -> tuple[Client, Library, list[xj.GenerationResult]]:
    client = make_client()
    results = [client.generate(p, aspect_ratio="1:1" if i % 2 else "16:9", resolution="2K" if i == 3 else None)
               for i, p in enumerate(PROMPTS)]
    return client, Library(store=client.store), results


def _prompts(found: list[xj.GenerationResult]) -> list[str]:
    return [r.prompt for r in found]


def test_search_matches_words_phrases_and_case_newest_first(filled) -> None:
    _client, lib, _ = filled
    assert _prompts(lib.search("lighthouse")) == [PROMPTS[1], PROMPTS[0]]
    assert _prompts(lib.search("ink wash")) == [PROMPTS[2], PROMPTS[0]]  # both words, anywhere
    assert _prompts(lib.search('"ink wash"')) == [PROMPTS[0]]  # the phrase
    assert _prompts(lib.search("Lighthouse FOG")) == [PROMPTS[1]]
    assert lib.search("submarine") == []
    assert len(lib.search()) == len(lib) == 4
    assert isinstance(lib.search("wash"), xj.ResultList)


@pytest.mark.parametrize("text", ['"', "OR", "-fox", "AND NOT", "wash*", "col:umn", "NEAR(a b)", "(", "'", "ü"])
def test_search_takes_any_text_without_a_syntax_error(filled, text: str) -> None:
    _client, lib, _ = filled
    lib.search(text)  # never an FTS5 syntax error
    assert match_expression('ink-wash OR') == '"ink wash" AND "OR"'  # a hyphenated word is a phrase


def test_filters_combine_with_words_and_each_other(filled, make_client) -> None:
    client, lib, results = filled
    lib.rate(results[0], 1)
    lib.rate(results[1].journal_id, -1)
    assert results[0].rating == 1
    assert _prompts(lib.search(starred=True)) == [PROMPTS[0]]
    assert _prompts(lib.search("lighthouse", rejected=False)) == [PROMPTS[0]]
    assert _prompts(lib.search("lighthouse", rejected=True)) == [PROMPTS[1]]
    assert _prompts(lib.search(starred=False, aspect_ratio="16:9")) == [PROMPTS[2]]
    assert _prompts(lib.search(aspect_ratio="1:1")) == [PROMPTS[3], PROMPTS[1]]
    assert _prompts(lib.search(resolution="2K", limit=1)) == [PROMPTS[3]]
    lib.rate(results[0], 0)
    assert lib.search(starred=True) == []

    client.generate_many(["a lighthouse keeper's cat", "a cat on a boat"], job="catalog", progress=False)
    assert _prompts(lib.search(job="catalog")) == ["a cat on a boat", "a lighthouse keeper's cat"] or \
        sorted(_prompts(lib.search(job="catalog"))) == ["a cat on a boat", "a lighthouse keeper's cat"]
    assert _prompts(lib.search("lighthouse", job="catalog")) == ["a lighthouse keeper's cat"]
    assert lib.search(job="no such job") == []


def test_since_and_until_take_datetimes_and_iso_text(filled) -> None:
    _client, lib, _ = filled
    middle = lib.search("fox")[0].created_at  # as journaled: when it was sent
    assert middle is not None
    after = lib.search(since=datetime.fromtimestamp(middle - 0.0001))
    assert _prompts(after) == [PROMPTS[3], PROMPTS[2]]
    assert _prompts(lib.search(until=datetime.fromtimestamp(middle - 0.0001).isoformat())) == [PROMPTS[1], PROMPTS[0]]
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    assert lib.search(since=tomorrow) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"starred": "yes"}, "starred"),
        ({"limit": 0}, "limit"),
        ({"limit": True}, "limit"),
        ({"since": "last tuesday"}, "since"),
        ({"until": [2026]}, "until"),
        ({"text": 5}, "text"),
        ({"order": "random"}, "order"),
    ],
)
def test_bad_search_arguments_name_the_field(filled, kwargs, field) -> None:
    _client, lib, _ = filled
    with pytest.raises(InvalidRequestError) as caught:
        lib.search(**kwargs)
    assert caught.value.field == field


def test_rate_refuses_what_it_cannot_keep(filled) -> None:
    _client, lib, results = filled
    with pytest.raises(InvalidRequestError, match="rating"):
        lib.rate(results[0], 2)
    with pytest.raises(InvalidRequestError, match="not in the journal"):
        lib.rate("0" * 32, 1)


def test_failed_generations_are_not_results(make_client, emu: Emulator) -> None:
    client = make_client()
    emu.next_task("fail")
    with pytest.raises(xj.GenerationFailedError):
        client.generate("a lighthouse that fails")
    client.generate("a lighthouse that works")
    lib = Library(store=client.store)
    assert _prompts(lib.search("lighthouse")) == ["a lighthouse that works"]
    assert len(lib) == 1
    table = lib.to_pandas()
    assert list(table["prompt"]) == ["a lighthouse that works"]
    assert {"journal_id", "path", "rating", "parent"} <= set(table.columns)


def test_an_older_journal_is_indexed_when_opened(filled, tmp_path: Path) -> None:
    client, _lib, _ = filled
    path = client.store.journal.path
    client.close()
    conn = sqlite3.connect(path)  # as schema 7 left it: no index of prompts
    for name in ("prompts_insert", "prompts_delete"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE prompts")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    assert _prompts(Library(path.parent).search("fox")) == [PROMPTS[2]]


def test_references_are_kept_once_by_digest_and_a_recipe_gives_the_bytes_back(make_client, emu) -> None:
    client = make_client()
    red, blue = _png((200, 30, 30)), _png((30, 30, 200))
    first = client.generate("a red and a blue square", [red, blue])
    client.generate("the same red square again", [red])
    kept = sorted(p.name for p in (client.store.root / "references").iterdir())
    assert kept == sorted(hashlib.sha256(b).hexdigest() + ".png" for b in (red, blue))
    for source in (first, first.journal_id, first.task_id, str(first.path)):
        recipe = xj.Library(store=client.store).recipe(source)
        assert recipe.references == [red, blue]
        assert recipe.prompt == "a red and a blue square" and recipe.parent == first.journal_id
        assert recipe.missing == []
    kwargs = Library(store=client.store).recipe(first).kwargs()
    assert kwargs == {"prompt": "a red and a blue square", "model": "gpt-image-2", "references": [red, blue]}


def test_a_url_reference_is_recalled_as_its_url(make_client, emu) -> None:
    client = make_client(check_urls=False)
    url = emu.base_url + "/cdn/ref.png"
    made = client.generate("from a URL", [url])
    assert Library(store=client.store).recipe(made).references == [url]


def test_remix_applies_changes_and_records_its_parent(make_client, emu) -> None:
    client = make_client()
    red = _png((200, 30, 30))
    source = client.generate("a red square", [red], aspect_ratio="16:9")
    posts = emu.stats.billed_calls
    child = client.remix(source, prompt="a red circle")
    assert emu.stats.billed_calls == posts + 1
    assert child.parent == source.journal_id and child.prompt == "a red circle" and child.aspect_ratio == "16:9"
    assert emu.last_generation["files"][0]["sha256"] == hashlib.sha256(red).hexdigest()
    grandchild = client.remix(child, resolution="2K", references=[])
    assert grandchild.resolution == "2K" and emu.last_generation["files"] == []
    lib = Library(store=client.store)
    assert [r.journal_id for r in lib.lineage(grandchild)] == [source.journal_id, child.journal_id, grandchild.journal_id]
    assert [r.journal_id for r in lib.lineage(source)] == [source.journal_id]
    assert lib.to_pandas().set_index("journal_id").loc[grandchild.journal_id, "parent"] == child.journal_id
    with pytest.raises(InvalidRequestError) as caught:
        client.remix(source, seed=4)
    assert caught.value.field == "seed"


def test_remix_is_priced_and_checked_like_any_call(make_client, emu) -> None:
    client = make_client()
    source = client.generate("a square", aspect_ratio="1:1")
    posts = emu.stats.generate_posts
    with pytest.raises(InvalidRequestError) as caught:
        client.remix(source, resolution="4K")  # 1:1 cannot be combined with 4K
    assert caught.value.field in ("resolution", "aspect_ratio")
    assert emu.stats.generate_posts == posts


_REMIX_IN_A_NEW_PROCESS = """
import json, sys, xenodia_jupyter as xj
path = sys.argv[1]
child = xj.remix(path, prompt="the copy, remixed")
print(json.dumps({"parent": child.parent, "lineage": [r.journal_id for r in xj.lineage(child)],
                  "recipe_refs": len(xj.recipe(path).references)}))
"""


def test_a_copied_png_is_remixed_in_a_new_process_with_the_same_reference_bytes(make_client, emu, tmp_path) -> None:
    client = make_client()
    red = _png((200, 30, 30))
    source = client.generate("a red square on a desk", [red])
    copy = tmp_path / "elsewhere" / "copied.png"
    copy.parent.mkdir()
    shutil.copy(source.path, copy)
    env = {**os.environ, "XENODIA_API_KEY": emu.api_key, "XENODIA_BASE_URL": emu.base_url,
           "XENODIA_OUTPUT_DIR": str(client.store.root)}
    done = subprocess.run([sys.executable, "-c", _REMIX_IN_A_NEW_PROCESS, str(copy)], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    told = json.loads(done.stdout.strip().splitlines()[-1])
    assert told["parent"] == source.journal_id
    assert told["lineage"][0] == source.journal_id and len(told["lineage"]) == 2
    assert told["recipe_refs"] == 1
    assert emu.last_generation["files"][0]["sha256"] == hashlib.sha256(red).hexdigest()


def test_a_png_from_another_machine_names_its_missing_references_and_sends_nothing(make_client, emu, tmp_path) -> None:
    client = make_client()
    source = client.generate("a red square", [_png((200, 30, 30))], aspect_ratio="4:3")
    copy = tmp_path / "copied.png"
    shutil.copy(source.path, copy)
    other = make_client(output_dir=tmp_path / "another-machine")
    recipe = Library(store=other.store).recipe(copy)
    assert recipe.prompt == "a red square" and recipe.aspect_ratio == "4:3"
    assert recipe.references == [] and len(recipe.missing) == 1
    posts = emu.stats.generate_posts
    with pytest.raises(InvalidRequestError) as caught:
        other.remix(copy)
    assert caught.value.field == "references"
    assert "references=" in str(caught.value) and "nothing was sent" in str(caught.value)
    assert emu.stats.generate_posts == posts
    blue = _png((30, 30, 200))
    remixed = other.remix(copy, references=[blue])
    assert remixed.parent == source.journal_id
    assert emu.last_generation["files"][0]["sha256"] == hashlib.sha256(blue).hexdigest()


def test_a_damaged_kept_reference_counts_as_missing(make_client, tmp_path) -> None:
    client = make_client()
    red = _png((200, 30, 30))
    source = client.generate("a red square", [red])
    kept = next((client.store.root / "references").iterdir())
    kept.write_bytes(red[:40])
    assert Library(store=client.store).recipe(source).missing


def test_bad_sources_name_the_field(make_client, tmp_path) -> None:
    client = make_client()
    lib = Library(store=client.store)
    with pytest.raises(InvalidRequestError, match="source"):
        lib.recipe("task_that_does_not_exist")
    plain = tmp_path / "plain.png"
    plain.write_bytes(_png((1, 2, 3)))
    with pytest.raises(InvalidRequestError, match="provenance"):
        lib.recipe(plain)
    with pytest.raises(InvalidRequestError, match="item"):
        lib.lineage("f" * 32)


def test_module_level_names_use_the_default_output_folder(emu, monkeypatch) -> None:
    monkeypatch.setenv("XENODIA_API_KEY", emu.api_key)
    monkeypatch.setenv("XENODIA_BASE_URL", emu.base_url)
    made = xj.generate("a lighthouse for the module-level library")
    assert _prompts(xj.library().search("lighthouse")) == [made.prompt]
    child = xj.remix(made, prompt="a lighthouse, remixed")
    assert [r.journal_id for r in xj.lineage(child)] == [made.journal_id, child.journal_id]
    assert xj.recipe(child).parent == child.journal_id
    assert "Library" in repr(xj.library()) and time.time() > 0


@pytest.mark.parametrize("few", [frozenset(), frozenset({"text"}), frozenset({"job"}), frozenset({"text", "job"})])
def test_both_query_plans_find_the_same_rows_in_the_same_order(filled, few) -> None:
    from xenodia_jupyter.store.search import Query

    client, lib, _ = filled
    client.generate_many(["a lighthouse keeper's cat", "a cat on a boat", "ink wash cat"], job="cats", progress=False)
    lib.rate(lib.search("boat")[0], 1)
    for kwargs in ({"text": "cat"}, {"text": "cat", "job": "cats"}, {"job": "cats", "starred": False},
                   {"text": '"ink wash"', "rejected": False}, {"text": "lighthouse", "limit": 2}):
        query = Query.checked(**kwargs)
        default_plan = [r["id"] for r in lib.journal.select(*query.sql())]
        other_plan = [r["id"] for r in lib.journal.select(*query.sql(few=few))]
        assert other_plan == default_plan and default_plan, kwargs


def test_search_by_score_puts_the_judged_best_first(filled) -> None:
    from xenodia_jupyter.store.preferences import record_choice

    _client, lib, results = filled
    ids = [r.journal_id for r in results]
    record_choice(lib.journal, ids[0], ids[1], "left")  # the oldest beats everything it meets
    record_choice(lib.journal, ids[0], ids[2], "left")
    record_choice(lib.journal, ids[2], ids[1], "left")
    ranked = lib.search(order="score")
    assert [r.journal_id for r in ranked[:3]] == [ids[0], ids[2], ids[1]]
    assert ranked[3].journal_id == ids[3]  # never judged: after the judged ones
    assert [r.journal_id for r in lib.search("lighthouse", order="score", limit=1)] == [ids[0]]


def test_a_signed_url_reference_is_kept_without_its_signature_and_counts_as_missing(make_client, emu) -> None:
    client = make_client(check_urls=False)
    signed = emu.base_url + "/cdn/ref.png?X-Amz-Signature=secret-sig-42"
    made = client.generate("from a signed URL", [signed])
    recipe = Library(store=client.store).recipe(made)
    assert recipe.references == [] and "signature is not kept" in recipe.missing[0]
    kept = b"".join(f.read_bytes() for f in client.store.root.rglob("*") if f.is_file())  # the WAL file too
    assert b"secret-sig-42" not in kept
    with pytest.raises(InvalidRequestError, match="references"):
        client.remix(made)


def test_without_fts5_the_journal_works_and_search_reads_the_prompts(filled, monkeypatch) -> None:
    """An SQLite built without FTS5: creating the index fails as it would there."""
    from xenodia_jupyter.store import journal as journal_module

    client, _lib, _ = filled
    folder = client.store.root
    client.close()
    conn = sqlite3.connect(folder / "journal.sqlite3")
    for name in ("prompts_insert", "prompts_delete"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE prompts")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    # What SQLite without FTS5 says: "no such module: fts5" (here: fts5x).
    monkeypatch.setattr(journal_module, "_SEARCH", ("CREATE VIRTUAL TABLE prompts USING fts5x(prompt)",))
    lib = Library(folder)
    assert not lib.journal.has_search_index
    assert _prompts(lib.search("lighthouse")) == [PROMPTS[1], PROMPTS[0]]
    assert _prompts(lib.search('"ink wash"')) == [PROMPTS[0]]
    assert _prompts(lib.search("FOG lighthouse", aspect_ratio="1:1")) == [PROMPTS[1]]
    assert lib.search("100%_") == []
