"""`%%xenodia` (generate from the cell body) and `%xenodia` (subcommands).

Loading is cheap: this module imports only what IPython has already loaded;
the client, Pillow, httpx and ipywidgets are imported on first use.
"""

from __future__ import annotations

import argparse
import glob
import keyword
import math
import re
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Float, Int, Unicode, link

from ..settings import SHARED_TRAITS, kernel_settings

if TYPE_CHECKING:
    from ...client.async_client import AsyncClient, PreparedGeneration
    from ...core.results import GenerationResult

# {name}, {name.attr}, {name[0]}, {name['key']}: the only braces we replace.
_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\")\])*"
_FIELD = re.compile(r"\{\{(" + _PATH + r")\}\}|\{(" + _PATH + r")\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+|'[^']*'|\"[^\"]*\")\]")
_WHOLE_PATH = re.compile(_PATH + r"\Z")
_SUBCOMMANDS = ("models", "history", "recover", "panel", "jobs")


class _Missing(Exception):
    pass


def lookup(path: str, namespace: dict[str, Any]) -> Any:
    """Resolve `name.attr[0]['k']` in `namespace` without `eval`."""
    name = re.match(r"[A-Za-z_]\w*", path)
    assert name is not None
    if name.group() not in namespace:
        raise _Missing(name.group())
    value = namespace[name.group()]
    for attr, index in _STEP.findall(path[name.end() :]):
        if attr:
            value = getattr(value, attr)
        else:
            value = value[int(index)] if index.lstrip("-").isdigit() else value[index[1:-1]]
    return value


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Replace `{name}` fields from `namespace`; every other brace stays as written.
    `{{name}}` is a literal `{name}`."""

    def replace(match: re.Match[str]) -> str:
        escaped, path = match.groups()
        if escaped:
            return "{" + escaped + "}"
        try:
            value = lookup(path, namespace)
        except _Missing as missing:
            raise UsageError(
                f"{{{path}}} in the prompt: no variable named {missing} (define it, or write {{{{{path}}}}} "
                "for literal braces)"
            ) from None
        except (AttributeError, LookupError, TypeError) as exc:
            raise UsageError(f"{{{path}}} in the prompt: {type(exc).__name__}: {exc}") from None
        if callable(value):
            raise UsageError(
                f"{{{path}}} in the prompt is a {type(value).__name__}, not a value: "
                "call it in a cell first and use the result's name"
            )
        return str(value)

    return _FIELD.sub(replace, text)


def resolve_reference(spec: str, namespace: dict[str, Any]) -> list[Any]:
    """A `-i` value: a variable or expression path from the namespace, else a URL,
    a glob or a path written literally."""
    if _WHOLE_PATH.match(spec):
        try:
            value = lookup(spec, namespace)
        except _Missing:
            pass
        except (AttributeError, LookupError, TypeError) as exc:
            if not Path(spec).expanduser().exists():  # `logo.png` beside a variable `logo` is the file
                raise UsageError(f"-i {spec}: {type(exc).__name__}: {exc}") from None
        else:
            return list(value) if isinstance(value, (list, tuple)) else [value]
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", spec) and not re.match(r"[A-Za-z]:[\\/]", spec):
        return [spec]  # a URL (its scheme is checked by the rules)
    if any(c in spec for c in "*?["):
        matches = sorted(glob.glob(str(Path(spec).expanduser())))
        if not matches:
            raise UsageError(f"-i {spec}: the pattern matches no file")
        return [Path(m) for m in matches]
    path = Path(spec).expanduser()
    if not path.exists():
        raise UsageError(f"-i {spec}: not a variable, a file or a URL")
    return [path]


class _Once(argparse.Action):
    """An option that may be given once: `-a 16:9 -a 1:1` is a mistake, not "last one wins"."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        given = namespace.__dict__.setdefault("_given", set())
        if self.dest in given:
            raise UsageError(f"{option_string} was given twice; give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def parse_line(magic: Any, line: str) -> argparse.Namespace:
    """The options, split the way a shell user expects: `-i 'my logo.png'`,
    `-i "my logo.png"`, `-i my\\ logo.png` and `-i 'shots/*.png'` all work."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%xenodia options: {exc} (a quote is not closed)") from None
    args = magic.parser.parse_args(argv)
    if args.n < 1:
        raise UsageError(f"-n must be at least 1, not {args.n}")
    if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
        raise UsageError(f"-o {args.out}: not a valid variable name")
    if args.timeout is not None and (not math.isfinite(args.timeout) or args.timeout <= 0):
        raise UsageError(f"--timeout {args.timeout:g}: give a number of seconds above 0")
    return args


@magics_class
class XenodiaMagics(Magics):
    """Generate images with Xenodia's gpt-image-2.  Defaults are configurable
    here or as `XenodiaSettings` (the same settings, shared with the panel):
    `%config XenodiaMagics.resolution = "2K"`."""

    aspect_ratio = Unicode(None, allow_none=True, help="Default aspect ratio (-a).").tag(config=True)
    resolution = Unicode(None, allow_none=True, help="Default resolution (-r).").tag(config=True)
    output_dir = Unicode(None, allow_none=True, help="Where images and the journal are kept.").tag(config=True)
    timeout = Float(600.0, help="Seconds to wait for a generation (--timeout).").tag(config=True)
    preview_size = Int(256, help="Thumbnail size in pixels of the inline preview.").tag(config=True)
    budget_usd = Float(
        None, allow_none=True, help="Refuse, before sending, any call past this session spend."
    ).tag(config=True)
    confirm_above_usd = Float(
        1.0, allow_none=True, help="A cell that would cost more than this asks for --yes first (None: never asks)."
    ).tag(config=True)
    check_urls = Bool(True, help="Check URL references before sending (off: only the API can reach them).").tag(
        config=True
    )
    cache = Bool(False, help="Return an earlier identical result instead of paying again (--cache).").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # One set of settings for the magics and the panel: each trait here is linked
        # both ways to the kernel's XenodiaSettings; a value configured for the
        # magics (ipython_config, %config before loading) is the one both start from.
        settings = kernel_settings()
        configured = self.config.get("XenodiaMagics", {})
        for name in SHARED_TRAITS:
            if name in configured:
                link((self, name), (settings, name))
            else:
                link((settings, name), (self, name))

    def _client(self) -> AsyncClient:
        from ..engine import kernel_client

        client = kernel_client(output_dir=self.output_dir)
        client.check_urls = self.check_urls
        return client

    @magic_arguments()
    @argument("-a", "--aspect-ratio", action=_Once, help="auto, 1:1, 9:16, 16:9, 4:3 or 3:4.")
    @argument("-r", "--resolution", action=_Once, help="1K, 2K or 4K (auto allows only 1K; 1:1 not 4K).")
    @argument(
        "-i",
        "--ref",
        action="append",
        default=[],
        help="A reference image: a variable or expression (sketch, _, Out[5], shots[0]), "
        "a path or glob, or a URL. Repeatable.",
    )
    @argument("-n", type=int, default=1, action=_Once, help="Generate N times at once; one result holds all images.")
    @argument("-o", "--out", action=_Once, help="Bind the result to this variable.")
    @argument("--background", action="store_true", help="Return at once; the preview fills in when done.")
    @argument("--dry-run", action="store_true", help="Check and show the request and its price; send nothing.")
    @argument("--yes", action="store_true", help="Send a cell that costs more than confirm_above_usd.")
    @argument("--cache", action="store_true", help="Reuse an identical earlier result (no charge) when there is one.")
    @argument(
        "--sweep",
        action="append",
        default=[],
        help="An axis: name=value1,value2 fills {name} in the prompt with each value (repeatable); "
        "-a 1:1,16:9 makes the aspect ratio an axis too.",
    )
    @argument("--timeout", type=float, action=_Once, help="Seconds to wait before giving up (the task id is kept).")
    @argument("--no-display", action="store_true", help="Show no preview (bind the result with -o).")
    @argument("--all", action="store_true", help="With history: every entry, not the newest 20.")
    @argument("subcommand", nargs="*", help="Line magic only: models, history [N], recover or panel.")
    @line_cell_magic
    def xenodia(self, line: str, cell: str | None = None) -> Any:
        """Generate an image from the cell body; `%xenodia models|history|recover|panel`.

        The prompt is the cell body.  `{name}`, `{name.attr}`, `{name[0]}` and
        `{name['key']}` are replaced from your variables (a function or method is
        refused: call it in a cell first); other braces stay as written, and
        `{{name}}` is a literal `{name}`.  A trailing `;` shows nothing:

            %%xenodia -a 16:9 -r 2K -i sketch -i 'my logo.png' -o hero
            A poster of {product.name} in a clean studio;

        Settings (shared with the panel; also `%config XenodiaSettings...`):

            %config XenodiaMagics.resolution = "2K"       # default -r
            %config XenodiaMagics.budget_usd = 1.00       # refuse, before sending, spend past $1
            %config XenodiaMagics.confirm_above_usd = 5   # cells over $5 need --yes
            %config XenodiaMagics.check_urls = False      # URLs only the API can reach
            %config XenodiaMagics.cache = True            # Restart & Run All pays nothing twice

        Subcommands: `%xenodia models`, `%xenodia history [N | --all]`,
        `%xenodia recover` (finish paid tasks, no new charge), `%xenodia panel`,
        `%xenodia jobs` (named batch jobs with their counts and spend).
        """
        args = parse_line(self.xenodia, line)
        if cell is None:
            return self._subcommand(args.subcommand, args)
        if args.subcommand:
            raise UsageError(f"unexpected argument(s) {' '.join(args.subcommand)!r} for %%xenodia")
        ns = self.shell.user_ns if self.shell is not None else {}
        if args.sweep or "," in (args.aspect_ratio or "") or "," in (args.resolution or ""):
            return self._sweep(cell, args, ns)
        body = cell.strip()
        quiet = body.endswith(";")  # like Python: a trailing ; shows nothing
        prompt = interpolate(body.rstrip(";").rstrip() if quiet else body, ns)
        refs: list[Any] = [item for spec in args.ref for item in resolve_reference(spec, ns)]
        options = {
            "aspect_ratio": args.aspect_ratio or self.aspect_ratio,
            "resolution": args.resolution or self.resolution,
        }
        timeout = args.timeout if args.timeout is not None else self.timeout
        result = _run_generation(self, prompt, refs, options, args, timeout)
        return None if quiet else result

    def _sweep(self, cell: str, args: argparse.Namespace, ns: dict[str, Any]) -> Any:
        """`%%xenodia --sweep animal=fox,owl --sweep "style=ink wash,origami"`: the
        cell is the template; every combination is one call; the grid is the value."""
        from ...batches.progress import make_progress
        from ...batches.sweeps import split_axis
        from ...errors import XenodiaError
        from ..engine import run_blocking

        axes: dict[str, Any] = {}
        try:
            for spec in args.sweep:
                name, values = split_axis(spec)
                if name in axes:
                    raise UsageError(f"--sweep {name} was given twice; give its values once")
                axes[name] = values
        except XenodiaError as exc:
            raise UsageError(str(exc)) from None
        options: dict[str, Any] = {}
        for name, value, default in (
            ("aspect_ratio", args.aspect_ratio, self.aspect_ratio),
            ("resolution", args.resolution, self.resolution),
        ):
            given = value or default
            options[name] = [v.strip() for v in given.split(",")] if given and "," in given else given
        body = cell.strip()
        quiet = body.endswith(";")
        # Axis fields stay as written for the sweep to fill; the other fields come from the namespace.
        template = interpolate(body.rstrip(";").rstrip() if quiet else body, {**ns, **{n: "{" + n + "}" for n in axes}})
        refs = [item for spec in args.ref for item in resolve_reference(spec, ns)] or None
        client = self._client()
        count = 1
        for values in [*axes.values(), *(v for v in options.values() if isinstance(v, list))]:
            count *= len(values)
        try:
            plan = run_blocking(client.sweep(template, references=refs, dry_run=True, **options, **axes))
            total = plan.plan.price_usd
            limit = self.confirm_above_usd
            if not args.dry_run and limit is not None and total > limit + 1e-9 and not args.yes:
                raise UsageError(
                    f"this sweep costs ${total:.2f} ({count} calls), more than confirm_above_usd (${limit:.2f}): "
                    "add --yes to send it, or raise the setting"
                )
            if args.dry_run:
                return plan
            progress = make_progress(True, count)
            timeout = args.timeout if args.timeout is not None else self.timeout
            grid = run_blocking(
                client.sweep(
                    template, references=refs, cache=args.cache or self.cache, progress=progress or False,
                    timeout=timeout, **options, **axes,
                )
            )
        except XenodiaError as exc:
            raise _short_traceback(exc) from None
        if args.out and self.shell is not None:
            self.shell.user_ns[args.out] = grid
        return None if quiet else grid

    def _subcommand(self, words: list[str], args: argparse.Namespace) -> Any:
        from ..engine import run_blocking

        if not words or words[0] not in _SUBCOMMANDS or (len(words) > 1 and words[0] != "history") or len(words) > 2:
            raise UsageError(
                "%xenodia takes one of: " + ", ".join(_SUBCOMMANDS) + "; use %%xenodia (two %) to generate"
            )
        command = words[0]
        if command == "panel":
            from ..panel.studio import Panel

            return Panel(output_dir=self.output_dir)
        client = self._client()
        if command == "models":
            from IPython.display import HTML

            info = run_blocking(client.model())
            return HTML(_model_table(info))
        if command == "jobs":
            return run_blocking(client.jobs())
        if command == "history":
            from ..history import HistoryTable

            limit = None if args.all else _history_limit(words[1:])
            return HistoryTable(client.store.journal.entries(limit=limit), preview_size=96)
        recovered = run_blocking(client.recover(timeout=args.timeout))
        if not recovered:
            print("Nothing to recover: every paid generation in the journal is saved.")
        for item in recovered:
            if isinstance(item, Exception):
                print(f"Not recovered: {type(item).__name__}: {item}")
        return recovered


def _history_limit(words: list[str]) -> int:
    if not words:
        return 20
    if not words[0].isdigit() or int(words[0]) < 1:
        raise UsageError(f"%xenodia history {words[0]}: give a number of entries (default 20) or --all")
    return int(words[0])


def _model_table(info: Any) -> str:
    source = "model discovery" if info.from_discovery else "the documented rules (discovery unreachable)"
    rows = [
        ("model", info.id),
        ("aspect ratios", ", ".join(info.aspect_ratios)),
        ("resolutions", ", ".join(info.resolutions)),
        ("price per call", f"${info.price_usd:.2f}"),
        ("references", f"up to {info.max_references} (JPEG, PNG or WebP, 30 MiB each)"),
        ("rules", "auto allows only 1K; 1:1 cannot be 4K"),
        ("source", source),
    ]
    body = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


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


def _short_traceback(error: BaseException) -> BaseException:
    """IPython renders `_render_traceback_()` instead of the full stack: the
    reader sees the error and the server's words, not library frames."""
    text = f"{type(error).__name__}: {error}"
    error._render_traceback_ = lambda: ["\x1b[0;31m" + text + "\x1b[0m"]  # type: ignore[attr-defined]
    return error


def _run_generation(
    magics: XenodiaMagics, prompt: str, refs: list[Any], options: dict[str, Any], args: Any, timeout: float
) -> Any:
    from ...errors import XenodiaError
    from ..engine import run_blocking, spawn

    client = magics._client()
    try:
        request = run_blocking(client.prepare(prompt, refs or None, **options))
    except XenodiaError as exc:
        raise _short_traceback(exc) from None
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
            raise _short_traceback(exc) from None

    from ..display import ProgressLine, error_box

    label = "xenodia" if args.n == 1 else f"xenodia ×{args.n}"
    line = ProgressLine(label, request.price_usd * args.n)
    shell = magics.shell

    if args.background:
        # The engine thread draws the line and binds `-o` when the job ends,
        # whatever cell the kernel is running by then.
        job = _Job(client, request, args.n, timeout, line, draw_live=True, cache=args.cache or magics.cache)

        async def background() -> None:
            try:
                result = await job.run()
            except BaseException as exc:  # shown in the placeholder, never lost
                line.show(error_box(exc))
                if not isinstance(exc, Exception):
                    raise
                return
            result.preview_size = magics.preview_size
            if args.out and shell is not None:
                shell.user_ns[args.out] = result
            line.show(result if not args.no_display else _done_html(result))

        spawn(background())
        return None

    job = _Job(client, request, args.n, timeout, line, draw_live=False, cache=args.cache or magics.cache)
    try:
        result = run_blocking(job.run(), on_tick=job.draw)
    except KeyboardInterrupt:
        job.draw()
        line.update("interrupted", None, job.task_id)
        from ...client.async_client import interrupted

        raise interrupted(job.task_ids, "%xenodia recover") from None
    except XenodiaError as exc:
        line.show(error_box(exc))
        if job.saved_before_failure:
            saved = _merge(job.saved_before_failure)
            if args.out and shell is not None:
                shell.user_ns[args.out] = saved
            print(f"{len(saved.paths)} of {args.n} images were saved" + (f" (bound to {args.out})" if args.out else "")
                  + "; see %xenodia history.")
        raise _short_traceback(exc) from None
    line.clear()
    result.preview_size = magics.preview_size
    if args.out and shell is not None:
        shell.user_ns[args.out] = result
    if args.no_display:
        return None
    return result


def _done_html(result: GenerationResult) -> Any:
    from IPython.display import HTML

    return HTML(f"<div style='font-size:12px;color:#444'>done: {len(result.paths)} image(s) saved</div>")


N_CONCURRENCY = 8  # -n 100 sends eight at a time, not a hundred


class _Job:
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
        import asyncio

        deadline = time.monotonic() + self.timeout
        gate = asyncio.Semaphore(N_CONCURRENCY)

        async def one(index: int) -> GenerationResult:
            async with gate:
                return await self.client.submit(
                    self.request, deadline=deadline, on_progress=self._reporter(index), cache=self.cache, variant=index
                )

        parts = await asyncio.gather(*(one(i) for i in range(self.n)), return_exceptions=True)
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
