"""One `%%xenodia` cell's generations: checked, priced, confirmed, sent on the
engine thread through the batch runner's per-item loop (`-n` calls at once),
drawn on one progress line, and bound to `-o`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import UsageError

from .short_errors import short

if TYPE_CHECKING:
    from ...client.async_client import AsyncClient
    from ...core.preparer import PreparedGeneration
    from ...core.results import GenerationResult

class Magic(Protocol):
    """What a cell run reads of the magics object (`XenodiaMagics`)."""

    shell: Any
    cache: Any
    confirm_above_usd: Any
    preview_size: Any

    def _client(self) -> AsyncClient: ...


def run_cell(
    magics: Magic, prompt: str, refs: list[Any], options: dict[str, Any], args: Any, timeout: float
) -> Any:
    from ...errors import XenodiaError
    from ..engine import run_blocking, spawn

    client = magics._client()
    try:
        request = run_blocking(client.prepare(prompt, refs or None, **options))
    except XenodiaError as exc:
        raise short(exc) from None
    if args.dry_run:
        return DryRun(request, args.n)
    total = request.price_usd * args.n
    limit = magics.confirm_above_usd
    if limit is not None and total > limit + 1e-9 and not args.yes:
        raise UsageError(
            f"this cell costs ${total:.2f} ({args.n} × ${request.price_usd:.2f}), more than "
            f"confirm_above_usd (${limit:.2f}): add --yes to send it, or raise the setting "
            f"(%config XenodiaMagics.confirm_above_usd = {math.ceil(total)})"
        )
    if args.n > 1:
        try:
            client.budget.check(request.price_usd * args.n)
        except XenodiaError as exc:
            raise short(exc) from None

    from ..display import ProgressLine, error_box

    label = "xenodia" if args.n == 1 else f"xenodia ×{args.n}"
    line = ProgressLine(label, request.price_usd * args.n)
    shell = magics.shell

    if args.background:
        # The engine thread draws the line and binds `-o` when the job ends,
        # whatever cell the kernel is running by then.
        job = CellRun(client, request, args.n, timeout, line, draw_live=True, cache=args.cache or magics.cache)

        async def background() -> None:
            try:
                result = await job.run()
            except BaseException as exc:  # shown in the placeholder, never lost
                line.show(error_box(exc))
                if not isinstance(exc, Exception):
                    raise
                return
            result.preview_size = magics.preview_size
            # The preview first, then the name: code that sees `-o`'s name bound sees the preview drawn.
            line.show(result if not args.no_display else _done_html(result))
            if args.out and shell is not None:
                shell.user_ns[args.out] = result

        spawn(background())
        return None

    job = CellRun(client, request, args.n, timeout, line, draw_live=False, cache=args.cache or magics.cache)
    try:
        result = run_blocking(job.run(), on_tick=job.draw)
    except KeyboardInterrupt:
        job.draw()
        line.update("interrupted", None, job.task_id)
        from ...client.sync_client import interrupted

        raise interrupted(job.task_ids, "%xenodia recover") from None
    except XenodiaError as exc:
        line.clear()  # one error, one block: the short traceback below says it all (with %tb for more)
        if job.saved_before_failure:
            saved = _merge(job.saved_before_failure)
            if args.out and shell is not None:
                shell.user_ns[args.out] = saved
            print(f"{len(saved.paths)} of {args.n} images were saved" + (f" (bound to {args.out})" if args.out else "")
                  + "; see %xenodia history.")
        raise short(exc) from None
    line.clear()
    result.preview_size = magics.preview_size
    if args.out and shell is not None:
        shell.user_ns[args.out] = result
    if args.no_display:
        return None
    return result


def _done_html(result: GenerationResult) -> Any:
    from IPython.display import HTML

    from ..markup import PROGRESS_TEXT

    return HTML(f"<div style='font-size:12px;color:{PROGRESS_TEXT}'>done: {len(result.paths)} image(s) saved</div>")


N_CONCURRENCY = 8  # -n 100 sends eight at a time, not a hundred


class CellRun:
    """One `%%xenodia` run: N generations at once, reporting to one progress line.

    The tasks report from the engine thread into plain attributes; `draw()`
    puts them on the line.  A blocking cell calls `draw()` from its own thread
    between waits; a background job (`draw_live`) draws as reports arrive."""

    def __init__(
        self,
        client: AsyncClient,
        request: PreparedGeneration,
        n: int,
        timeout: float,
        line: Any,
        *,
        draw_live: bool,
        cache: bool = False,
    ) -> None:
        self.cache = cache
        self.client = client
        self.request = request
        self.n = n
        self.timeout = timeout
        self.line = line
        self.draw_live = draw_live
        self._task_ids: dict[int, str] = {}
        self.saved_before_failure: list[GenerationResult] = []
        self._progress: dict[int, int] = {}
        self._state = "sending"

    @property
    def task_ids(self) -> list[str]:
        return [self._task_ids[i] for i in sorted(self._task_ids)]

    @property
    def task_id(self) -> str | None:
        ids = self.task_ids
        return ids[0] if ids else None

    async def run(self) -> GenerationResult:
        """All N calls to their end, at most `N_CONCURRENCY` at once.  A failure
        does not cut the others short: they finish and are saved, and the cell
        fails with the first error, saying how many images were saved."""
        from ...batches.items import run_items

        deadline = time.monotonic() + self.timeout

        async def one(index: int) -> GenerationResult:
            return await self.client.submit(
                self.request, deadline=deadline, on_progress=self._reporter(index), cache=self.cache, variant=index
            )

        ended = await run_items(range(self.n), one, N_CONCURRENCY)
        parts = [ended[i] for i in range(self.n)]
        done = [p for p in parts if not isinstance(p, BaseException)]
        failed = [p for p in parts if isinstance(p, BaseException)]
        if failed:
            if done:
                self.saved_before_failure = done
            raise failed[0]
        return done[0] if self.n == 1 else _merge(done)

    def _reporter(self, index: int) -> Any:
        def report(task: Any) -> None:
            if task.task_id:
                self._task_ids[index] = task.task_id
            self._progress[index] = task.progress or 0
            self._state = task.state
            if self.draw_live:
                self.draw()

        return report

    def draw(self) -> None:
        progress = sum(self._progress.values()) // self.n if self._progress else None
        self.line.update(self._state, progress, self.task_id)


def _merge(parts: list[GenerationResult]) -> GenerationResult:
    from ...core.results import GenerationResult

    first = parts[0]
    return GenerationResult(
        prompt=first.prompt,
        urls=[u for p in parts for u in p.urls],
        paths=[q for p in parts for q in p.paths],
        task_id=first.task_id,
        task_ids=[p.task_id for p in parts if p.task_id],
        cost_usd=sum(p.cost_usd or 0.0 for p in parts),
        aspect_ratio=first.aspect_ratio,
        resolution=first.resolution,
        created_at=first.created_at,
        cached=all(p.cached for p in parts),
    )


class DryRun:
    """What `--dry-run` shows: the checked request and its price; nothing sent."""

    def __init__(self, request: PreparedGeneration, n: int) -> None:
        self.request = request
        self.n = n
        self.price_usd = request.price_usd * n

    def summary(self) -> dict[str, Any]:
        summary = self.request.summary()
        for name in ("aspect_ratio", "resolution"):
            if summary[name] is None:
                summary[name] = "default (not sent: the server's own default applies)"
        return {**summary, "calls": self.n, "total_usd": round(self.price_usd, 6)}

    def __repr__(self) -> str:
        lines = [f"{k}: {v}" for k, v in self.summary().items()]
        return "Dry run (nothing sent)\n  " + "\n  ".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
            f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in self.summary().items()
        )
        return f"<div><b>Dry run</b>: checked, nothing sent.<table>{rows}</table></div>"
