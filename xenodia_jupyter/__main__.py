"""`python -m xenodia_jupyter`: what this installation is and where it writes,
the first thing to paste into a bug report.  Never prints the API key.

    python -m xenodia_jupyter                  # version, folders, key set?, base URL, extras
    python -m xenodia_jupyter quickstart [DIR] # copy the quickstart notebook (no outputs) into DIR
    python -m xenodia_jupyter check-live [--yes]  # where the real API differs from the contract
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from ._extras import EXTRAS, extras_status, install_command

NOTEBOOK = "quickstart.ipynb"
# Where the wheel puts the notebook (pyproject.toml: [tool.setuptools.data-files]).
DATA_DIR = "share/jupyter/xenodia-jupyter/notebooks"
DEPENDENCIES = ("httpx", "pillow", "ipywidgets", "anywidget", "ipython", "ipykernel", "isal")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def report() -> str:
    """The lines `python -m xenodia_jupyter` prints."""
    from .store.journal import JOURNAL_NAME
    from .store.outputs import default_output_dir
    from .wire.protocol import public_url
    from .wire.transport import DEFAULT_BASE_URL

    output_dir = default_output_dir().resolve()
    key = os.environ.get("XENODIA_API_KEY")
    base_url = os.environ.get("XENODIA_BASE_URL") or DEFAULT_BASE_URL
    lines = [
        f"xenodia-jupyter {__version__}",
        f"  python:        {platform.python_version()} ({sys.executable})",
        f"  platform:      {platform.platform()}",
        f"  output folder: {output_dir}" + ("" if output_dir.is_dir() else " (not created yet)"),
        f"  journal:       {output_dir / JOURNAL_NAME}"
        + ("" if (output_dir / JOURNAL_NAME).exists() else " (not created yet)"),
        "  API key:       " + ("set (XENODIA_API_KEY)" if key else "not set (XENODIA_API_KEY)"),
        f"  base URL:      {public_url(base_url)}" + ("" if os.environ.get("XENODIA_BASE_URL") else " (default)"),
        "  dependencies:  " + ", ".join(f"{name} {_version(name) or 'missing'}" for name in DEPENDENCIES),
        "  extras:",
    ]
    for extra, packages in extras_status().items():
        needed = {req.distribution for req in EXTRAS[extra][1] if req.needed}
        complete = all(packages[name] for name in needed)
        found = ", ".join(f"{name} {version or 'missing'}" for name, version in packages.items())
        state = "installed" if complete else f"not installed: {install_command(extra)}"
        lines.append(f"    [{extra}] {state} ({found})")
    return "\n".join(lines)


def quickstart_source() -> Path:
    """The quickstart notebook shipped with the package, or the checkout's."""
    try:
        files = importlib.metadata.distribution("xenodia-jupyter").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == NOTEBOOK and DATA_DIR in file.as_posix():
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    for candidate in (
        Path(sys.prefix) / DATA_DIR / NOTEBOOK,
        Path(__file__).resolve().parent.parent / "notebooks" / NOTEBOOK,  # a checkout (editable install)
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{NOTEBOOK} is not installed with this copy of xenodia-jupyter")


def copy_quickstart(directory: Path) -> Path:
    """Write the quickstart notebook, outputs cleared, into `directory`; refuse to overwrite."""
    notebook = json.loads(quickstart_source().read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / NOTEBOOK
    if target.exists():
        raise FileExistsError(f"{target} exists already")
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xenodia_jupyter",
        description="Show this installation's version, folders, key status, API URL and extras.",
    )
    commands = parser.add_subparsers(dest="command")
    quick = commands.add_parser("quickstart", help="copy the quickstart notebook into a folder")
    quick.add_argument("directory", nargs="?", default=".", type=Path, help="where to put it (default: here)")
    live = commands.add_parser(
        "check-live", help="compare the real API's answers with the contract (discovery free; --yes spends $0.07)"
    )
    live.add_argument("--yes", action="store_true", help="also make one 1K generation with a small reference ($0.07)")
    args = parser.parse_args(argv)
    if args.command == "check-live":
        return _check_live(spend=args.yes)
    if args.command == "quickstart":
        try:
            target = copy_quickstart(args.directory)
        except (FileNotFoundError, FileExistsError) as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"wrote {target}; open it in Jupyter (no key needed: it falls back to the emulator,")
        print(f'which needs {install_command("emulator")})')
        return 0
    print(report())
    return 0


def _check_live(*, spend: bool) -> int:
    from .client.live_check import PRICE_USD, check_live
    from .wire.transport import DEFAULT_BASE_URL

    key = os.environ.get("XENODIA_API_KEY") or ""
    base_url = (os.environ.get("XENODIA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if spend and not key:
        print("check-live --yes needs XENODIA_API_KEY", file=sys.stderr)
        return 2
    print(f"This calls model discovery (free){f' and one 1K generation: ${PRICE_USD:.2f}' if spend else ''}.")
    for line in check_live(base_url, key, spend=spend):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
