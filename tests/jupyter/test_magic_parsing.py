"""The parts of `%%xenodia` that need no kernel: prompt interpolation and
resolving `-i` values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from xenodia_jupyter.jupyter.magics.parsing import interpolate, resolve_reference


class Product:
    name = "teapot"


NS = {"product": Product(), "colours": ["red", "green"], "sizes": {"big": "XL"}, "n": 3}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a {n} cats", "a 3 cats"),
        ("a {product.name}", "a teapot"),
        ("{colours[0]} and {colours[-1]}", "red and green"),
        ("size {sizes['big']} / {sizes[\"big\"]}", "size XL / XL"),
        ('JSON stays: {"style": "flat", "n": 2}', 'JSON stays: {"style": "flat", "n": 2}'),
        ("code stays: def f(): return {}", "code stays: def f(): return {}"),
        ("format specs stay: {:>10} {0} {n!r}", "format specs stay: {:>10} {0} {n!r}"),
        ("literal {{n}} but value {n}", "literal {n} but value 3"),
        ("set literal {1, 2}", "set literal {1, 2}"),
    ],
)
def test_only_plain_names_attributes_and_indexes_are_replaced(template: str, expected: str) -> None:
    assert interpolate(template, NS) == expected


def test_an_unknown_name_says_which() -> None:
    with pytest.raises(UsageError, match=r"\{missing\}.*no variable named missing"):
        interpolate("a {missing} thing", NS)


@pytest.mark.parametrize(("template", "problem"), [("{colours[5]}", "IndexError"), ("{product.colour}", "AttributeError")])
def test_a_bad_attribute_or_index_says_what_went_wrong(template: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        interpolate(template, NS)


def test_references_resolve_variables_expressions_urls_globs_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.png", "b.png", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    ns = {"sketch": "PIL-IMAGE", "shots": ["s0", "s1"], "_": "LAST", "Out": {5: "OUT5"}, "many": ["p", "q"]}

    assert resolve_reference("sketch", ns) == ["PIL-IMAGE"]
    assert resolve_reference("shots[1]", ns) == ["s1"]
    assert resolve_reference("_", ns) == ["LAST"]
    assert resolve_reference("Out[5]", ns) == ["OUT5"]
    assert resolve_reference("many", ns) == ["p", "q"]
    assert resolve_reference("https://example.com/x.png", ns) == ["https://example.com/x.png"]
    assert resolve_reference("file:///etc/passwd", ns) == ["file:///etc/passwd"]  # refused later by the rules
    assert resolve_reference("*.png", ns) == [Path("a.png"), Path("b.png")]
    assert resolve_reference("c.jpg", ns) == [Path("c.jpg")]
    assert resolve_reference("a.png", {"a": object()}) == [Path("a.png")]  # a file named like a variable's attribute
    with pytest.raises(UsageError, match="AttributeError"):
        resolve_reference("a.nope", {"a": object()})


@pytest.mark.parametrize(("spec", "message"), [("nothing_here", "not a variable, a file or a URL"), ("*.gif", "matches no file")])
def test_unresolvable_references_are_usage_errors(spec: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        resolve_reference(spec, {})


# Options, split as a shell user expects ------------------------------------------------------

from xenodia_jupyter.jupyter.magics.magics import XenodiaMagics  # noqa: E402
from xenodia_jupyter.jupyter.magics.parsing import parse_line  # noqa: E402


def parse(line: str) -> object:
    return parse_line(XenodiaMagics.xenodia, line)


def test_quoted_and_escaped_paths_and_globs_arrive_without_their_quotes() -> None:
    args = parse("""-i 'my logo.png' -i "été 1.png" -i my\\ logo.png -i 'shots/*.png' -o hero""")
    assert args.ref == ["my logo.png", "été 1.png", "my logo.png", "shots/*.png"]  # type: ignore[attr-defined]
    assert args.out == "hero"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("-a 16:9 -a 1:1", "-a was given twice"),
        ("-r 2K --resolution 4K", "--resolution was given twice"),
        ("-o class", "-o class: not a valid variable name"),
        ("-o 2fast", "not a valid variable name"),
        ("--timeout 0", "--timeout 0: give a number of seconds above 0"),
        ("--timeout -5", "above 0"),
        ("--timeout nan", "above 0"),
        ("-n 0", "-n must be at least 1"),
        ("-i 'unclosed", "a quote is not closed"),
    ],
)
def test_bad_options_are_refused_naming_the_option(line: str, words: str) -> None:
    with pytest.raises(UsageError, match=re.escape(words)):
        parse(line)


def test_a_field_that_is_a_function_is_refused() -> None:
    with pytest.raises(UsageError, match=r"\{name.upper\} in the prompt is a builtin_function_or_method"):
        interpolate("{name.upper}", {"name": "teapot"})
