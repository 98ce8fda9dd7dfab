"""`%%xenodia` (generate from the cell body) and `%xenodia` (subcommands).

Loading is cheap: this module imports only what IPython has already loaded;
the client, Pillow, httpx and ipywidgets are imported on first use.
"""

from __future__ import annotations

import argparse
import html
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import link

from ..settings import SHARED_TRAITS, kernel_settings, shared_trait
from .cell_run import run_cell
from .parsing import _SUBCOMMANDS, _Once, interpolate, parse_line, resolve_reference
from .short_errors import short

if TYPE_CHECKING:
    from ...client.async_client import AsyncClient



@magics_class
class XenodiaMagics(Magics):
    """Generate images with Xenodia's gpt-image-2.  Defaults are configurable
    here or as `XenodiaSettings` (the same settings, shared with the panel):
    `%config XenodiaMagics.resolution = "2K"`."""

    # The same traits as XenodiaSettings (declared there once), so that
    # `%config XenodiaMagics.x` goes on working; __init__ links each pair.
    aspect_ratio = shared_trait("aspect_ratio")
    resolution = shared_trait("resolution")
    output_dir = shared_trait("output_dir")
    timeout = shared_trait("timeout")
    preview_size = shared_trait("preview_size")
    budget_usd = shared_trait("budget_usd")
    confirm_above_usd = shared_trait("confirm_above_usd")
    check_urls = shared_trait("check_urls")
    cache = shared_trait("cache")

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
    @argument("subcommand", nargs="*", help="Line magic only: models, history [N], search WORDS, recover, jobs or panel.")
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
        `%xenodia search WORDS [--starred] [--job NAME] [--limit N] [-o NAME]` (the library, as a gallery),
        `%xenodia recover` (finish paid tasks, no new charge), `%xenodia panel`,
        `%xenodia jobs` (named batch jobs with their counts and spend).
        """
        if cell is None and line.split()[:1] == ["search"]:  # its own options: see search.py
            from .search import run_search

            return run_search(line.strip()[len("search"):], self._client().store, self.shell)
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
        result = run_cell(self, prompt, refs, options, args, timeout)
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
            raise short(exc) from None
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
    # Discovery is public: whatever answers at the base URL wrote these values.
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"
