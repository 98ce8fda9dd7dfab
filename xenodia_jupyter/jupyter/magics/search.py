"""`%xenodia search`: the library, searched from a line, shown as a gallery.

    %xenodia search lighthouse --starred --job catalog --limit 50 -o hits
    %xenodia search "ink wash" -a 16:9 --since 2026-12-01 --hide-rejected
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from ...store.outputs import OutputStore

USAGE = (
    "%xenodia search [WORDS ...] [--starred] [--rejected | --hide-rejected] [--job NAME] [-a RATIO] "
    "[-r RES] [--since DATE] [--until DATE] [--limit N] [--order newest|score] [-o NAME]"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # a UsageError, as the magic's own options give
        raise UsageError(f"{message}\nusage: {USAGE}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%xenodia search", add_help=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("--starred", action="store_true")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--rejected", action="store_true")
    shown.add_argument("--hide-rejected", action="store_true")
    parser.add_argument("--job")
    parser.add_argument("-a", "--aspect-ratio")
    parser.add_argument("-r", "--resolution")
    parser.add_argument("--since")
    parser.add_argument("--until")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--order", default="newest")
    parser.add_argument("-o", "--out")
    return parser


def search_arguments(line: str) -> tuple[dict[str, Any], str | None]:
    """`Library.search`'s keyword arguments from the words after `search`, and the `-o` name."""
    try:
        words = shlex.split(line, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"%xenodia search: {exc}") from None
    # A quoted phrase stays a phrase for the search: shlex took the quotes off.
    args = _parser().parse_args(words)
    text = " ".join(f'"{w}"' if " " in w else w for w in args.words) or None
    rejected = True if args.rejected else False if args.hide_rejected else None
    keywords = {
        "text": text, "starred": True if args.starred else None, "rejected": rejected, "job": args.job,
        "aspect_ratio": args.aspect_ratio, "resolution": args.resolution, "since": args.since,
        "until": args.until, "limit": args.limit, "order": args.order,
    }
    return keywords, args.out


def run_search(line: str, store: OutputStore, shell: Any) -> Any:
    """Search the library of the magic's output folder; a `Gallery` of what was found."""
    from ...core.library import Library
    from ...errors import XenodiaError
    from ..gallery.widget import gallery
    from .short_errors import short

    keywords, out = search_arguments(line)
    try:
        found = Library(store=store).search(**keywords)
    except XenodiaError as exc:
        raise short(exc) from None
    shown = gallery(found, output_dir=store.root)
    if out and shell is not None:
        shell.user_ns[out] = shown
    return shown
