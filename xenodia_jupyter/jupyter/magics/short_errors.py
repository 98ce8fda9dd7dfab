"""Errors as one short block in a notebook: the class and message, the
headline and what to do next, not a page of library frames (`%tb` shows
the full traceback)."""

from __future__ import annotations

import sys
from typing import Any


def short_traceback(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    """IPython's custom exception handler for `XenodiaError`s raised by any cell
    (`xj.generate(...)` included): the class and message, the headline and what
    to do next, instead of a page of library frames.  `%tb` shows the full one."""
    from ..markup import describe

    headline, advice = describe(value)
    lines = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
    lines += [f"  {text}" for text in (headline, advice) if text]
    lines.append("  (the full traceback: %tb)")
    block = ["\n".join(lines)]
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # what %tb shows
    if hasattr(sys, "last_exc"):
        sys.last_exc = value
    shell._showtraceback(etype, value, block)
    return block


def short(error: BaseException) -> BaseException:
    """IPython renders `_render_traceback_()` instead of the full stack: the
    reader sees the error and the server's words, not library frames."""
    text = f"{type(error).__name__}: {error}"
    error._render_traceback_ = lambda: ["\x1b[0;31m" + text + "\x1b[0m"]  # type: ignore[attr-defined]
    return error


