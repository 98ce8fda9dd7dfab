"""Light and dark themes both read: every colour in our HTML, widgets and CSS
is one of JupyterLab's theme variables (with a fallback for front ends that
have none), never a bare colour that suits one theme only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import xenodia_jupyter

PACKAGE = Path(xenodia_jupyter.__file__).parent
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b")
THEMED = re.compile(r"var\(--jp-[a-z0-9-]+,\s*#[0-9a-fA-F]{3,8}\)")
SOURCES = sorted(
    p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".css", ".js") and "emulator" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_colour_is_a_theme_variable(path: Path) -> None:
    bare = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = THEMED.sub("", line)
        for found in COLOUR.findall(stripped):
            if not re.search(r"['\"(: ]" + re.escape(found), " " + stripped):
                continue  # not a colour (an anchor, a hash)
            bare.append(f"{number}: {line.strip()}")
    assert bare == [], "colours that read in one theme only"


def test_the_check_finds_a_bare_colour(tmp_path: Path) -> None:
    line = "<div style='color:#900'>x</div>"
    assert COLOUR.findall(THEMED.sub("", line)) == ["#900"]
    assert COLOUR.findall(THEMED.sub("", "color:var(--jp-error-color1, #900)")) == []
