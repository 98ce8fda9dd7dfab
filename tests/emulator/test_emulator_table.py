"""The contract page's values, written out here literally, against BOTH tables:
the emulator's own (`xenodia_jupyter.emulator.contract`) and the client's
(`xenodia_jupyter.wire.rules`).  A wrong value on either side fails here
instead of agreeing with itself elsewhere.  Also: the emulator imports nothing
of the package outside itself but the optional-dependency helper `_extras`."""

from __future__ import annotations

import ast
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from xenodia_jupyter.emulator import checks, contract
from xenodia_jupyter.emulator.bodies import model_item
from xenodia_jupyter.wire import rules

# From /work/shared/xenodia-api.md, by hand.
MODEL = "gpt-image-2"
ASPECT_RATIOS = ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
RESOLUTIONS = ("1K", "2K", "4K")
FORBIDDEN_PAIRS = {("auto", "2K"), ("auto", "4K"), ("1:1", "4K")}  # auto only 1K; 1:1 not 4K
MAX_REFERENCES = 16
MIME_TYPES = {"image/jpeg", "image/png", "image/webp"}
MAX_REFERENCE_BYTES = 31_457_280
PRICE_MICRO_USDC = 70_000


@dataclass(frozen=True)
class Side:
    """One table and its checks, seen the same way (both raise a ValueError)."""

    table: ModuleType
    check_count: Callable[[int], object]
    check_bytes: Callable[[bytes], object]


SIDES = {
    "emulator": Side(
        contract,
        lambda n: checks.check_reference_count(n, "image"),
        lambda data: checks.check_reference_bytes(data, "ref", "image"),
    ),
    "client": Side(rules, rules.check_reference_count, lambda data: rules.check_reference_bytes(data, "ref")),
}


@pytest.fixture(params=sorted(SIDES))
def side(request: pytest.FixtureRequest) -> Side:
    return SIDES[request.param]


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


# The values ----------------------------------------------------------------------------------------


def test_the_values_are_those_of_the_contract_page(side: Side) -> None:
    table = side.table
    assert table.MODEL == MODEL
    assert tuple(table.ASPECT_RATIOS) == ASPECT_RATIOS
    assert tuple(table.RESOLUTIONS) == RESOLUTIONS
    assert table.MAX_REFERENCES == MAX_REFERENCES
    assert set(table.ACCEPTED_MIME_TYPES) == MIME_TYPES and len(table.ACCEPTED_MIME_TYPES) == 3
    assert table.MAX_REFERENCE_BYTES == MAX_REFERENCE_BYTES == 30 * 2**20
    assert table.PRICE_MICRO_USDC == PRICE_MICRO_USDC


def test_the_combination_rules_auto_only_1k_and_square_not_4k(side: Side) -> None:
    for aspect in ASPECT_RATIOS:
        for resolution in RESOLUTIONS:
            problem = side.table.combination_problem(aspect, resolution)
            assert (problem is not None) == ((aspect, resolution) in FORBIDDEN_PAIRS), (aspect, resolution)
        assert side.table.combination_problem(aspect, None) is None  # the default resolution is 1K
    for resolution in RESOLUTIONS:
        assert side.table.combination_problem(None, resolution) is None


def test_each_table_lists_the_resolutions_an_aspect_ratio_allows() -> None:
    expected = {a: tuple(r for r in RESOLUTIONS if (a, r) not in FORBIDDEN_PAIRS) for a in ASPECT_RATIOS}
    assert expected == contract.RESOLUTIONS_BY_ASPECT_RATIO
    assert {a: rules.allowed_resolutions(a) for a in ASPECT_RATIOS} == expected


def test_types_are_judged_by_their_bytes(side: Side) -> None:
    sniff = side.table.sniff_mime
    assert sniff(image_bytes("PNG")) == "image/png"
    assert sniff(image_bytes("JPEG")) == "image/jpeg"
    assert sniff(image_bytes("WEBP")) == "image/webp"
    for refused in ("GIF", "BMP", "TIFF"):
        assert sniff(image_bytes(refused)) is None, refused
    assert sniff(b"") is None


def test_the_limits_hold_at_their_edges(side: Side) -> None:
    side.check_count(MAX_REFERENCES)
    with pytest.raises(ValueError):
        side.check_count(MAX_REFERENCES + 1)
    exact = image_bytes("PNG")[:8] + bytes(MAX_REFERENCE_BYTES - 8)
    assert side.check_bytes(exact) == "image/png"
    with pytest.raises(ValueError):
        side.check_bytes(exact + b"\0")
    for fmt, mime in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        assert side.check_bytes(image_bytes(fmt)) == mime
    with pytest.raises(ValueError):
        side.check_bytes(image_bytes("GIF"))


def test_what_each_side_advertises_as_model_discovery() -> None:
    capabilities = model_item()["capabilities"]
    assert model_item()["id"] == MODEL
    assert {p["name"]: tuple(p["enum"]) for p in capabilities["parameters"]} == {
        "aspect_ratio": ASPECT_RATIOS,
        "resolution": RESOLUTIONS,
    }
    assert capabilities["reference_input"]["max_items"] == MAX_REFERENCES
    assert [t["price_micro_usdc"] for t in capabilities["pricing"]["tiers"]] == [PRICE_MICRO_USDC]
    fallback = rules.DEFAULT_MODEL_INFO  # what the client assumes when discovery is unreachable
    assert (fallback.id, fallback.aspect_ratios, fallback.resolutions) == (MODEL, ASPECT_RATIOS, RESOLUTIONS)
    assert fallback.max_references == MAX_REFERENCES
    assert fallback.price_micro_usdc_for(None) == PRICE_MICRO_USDC


# The emulator imports only itself (and _extras) ---------------------------------------------------------

PACKAGE = "xenodia_jupyter"
EMULATOR_DIR = Path(contract.__file__).parent
ALLOWED = (f"{PACKAGE}.emulator", f"{PACKAGE}._extras")
IMPORT_FUNCTIONS = {"import_module", "__import__"}


def _resolve(package: str, level: int, name: str | None) -> str | None:
    """The absolute name of `from <level dots><name>` inside `package`, or None if it leaves the tree."""
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imported_names(source: str, package: str) -> Iterator[str]:
    """Every module a source file may import, wherever the import sits (functions,
    TYPE_CHECKING blocks, ...), relative imports resolved against `package`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(package, node.level, node.module) if node.level else node.module
            if module is None:  # above the top package
                yield "." * node.level + (node.module or "")
            elif module == PACKAGE:  # `from .. import x`: what counts is x
                yield from (f"{module}.{alias.name}" for alias in node.names)
            else:
                yield module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if called in IMPORT_FUNCTIONS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                name = first.value
                dots = len(name) - len(name.lstrip("."))
                yield (_resolve(package, dots, name[dots:]) or name) if dots else name


def forbidden_imports(source: str, package: str) -> list[str]:
    def allowed(name: str) -> bool:
        if name != PACKAGE and not name.startswith((f"{PACKAGE}.", ".")):
            return True  # not ours: the standard library, Pillow, starlette, ...
        return any(name == prefix or name.startswith(f"{prefix}.") for prefix in ALLOWED)

    return sorted({name for name in imported_names(source, package) if not allowed(name)})


def emulator_modules() -> list[tuple[Path, str]]:
    """(file, package it lives in) for every module under emulator/, subpackages included."""
    found = []
    for path in sorted(EMULATOR_DIR.rglob("*.py")):
        relative = path.relative_to(EMULATOR_DIR).parent.parts
        found.append((path, ".".join((PACKAGE, "emulator", *relative))))
    return found


def test_the_emulator_imports_no_other_part_of_the_package() -> None:
    modules = emulator_modules()
    assert {"__init__.py", "app.py", "contract.py", "render.py", "state.py"} <= {p.name for p, _ in modules}
    problems = {
        str(path.relative_to(EMULATOR_DIR)): bad
        for path, package in modules
        if (bad := forbidden_imports(path.read_text(encoding="utf-8"), package))
    }
    assert problems == {}, f"the emulator must keep its own table; these import the client: {problems}"


def test_the_import_check_sees_every_kind_of_import() -> None:
    package = f"{PACKAGE}.emulator"
    source = """
from typing import TYPE_CHECKING
import starlette
from .contract import MODEL
from .. import _extras
from .._extras import require
if TYPE_CHECKING:
    from ..wire.rules import ModelInfo
def later():
    from xenodia_jupyter import errors
    import xenodia_jupyter.images.encoding
    importlib.import_module("..core", __name__)
class C:
    def m(self):
        from ... import escape
"""
    assert forbidden_imports(source, package) == [
        "...",
        f"{PACKAGE}.core",
        f"{PACKAGE}.errors",
        f"{PACKAGE}.images.encoding",
        f"{PACKAGE}.wire.rules",
    ]
    assert forbidden_imports("from .state import Stats\nfrom .. import _extras\n", package) == []
    assert forbidden_imports("import xenodia_jupyter\n", package) == [PACKAGE]
