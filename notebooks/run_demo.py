"""`make demo`: execute the quickstart notebook headless against the embedded
emulator and write the executed notebook and an HTML export under build/demo.

`make demo LIVE=1` (with XENODIA_API_KEY set) uses the real API instead; it
says so first, because that spends money.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
OUT = ROOT / "build" / "demo"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--live", action="store_true", help="use the real API (spends money)")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    env = {"XENODIA_OUTPUT_DIR": str(OUT / "xenodia_outputs")}
    emulator = None
    if args.live:
        if not os.environ.get("XENODIA_API_KEY"):
            print("make demo LIVE=1 needs XENODIA_API_KEY in the environment.", file=sys.stderr)
            return 2
        print("LIVE: this run uses the real Xenodia API and spends money ($0.07 per image).")
    else:
        from xenodia_jupyter.emulator import Emulator

        emulator = Emulator(latency=1.0)
        emulator.start()
        env |= {"XENODIA_BASE_URL": emulator.base_url, "XENODIA_API_KEY": emulator.api_key}
        print(f"Emulator on {emulator.base_url} (files on {emulator.cdn_url}): no key, no network, no money.")
    os.environ.update(env)

    started = time.monotonic()
    started_at = time.time()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(OUT)}}).execute()
    finally:
        nbformat.write(nb, OUT / "quickstart.ipynb")
        if emulator is not None:
            stats = emulator.stats
            emulator.stop()
    html, _ = HTMLExporter().from_notebook_node(nb)
    (OUT / "quickstart.html").write_text(html, encoding="utf-8")

    images = sorted(  # this run's: a second run's folder holds the first run's images too
        p
        for p in (OUT / "xenodia_outputs").glob("*")
        if p.suffix in (".png", ".jpg", ".webp") and ".thumb" not in p.name and p.stat().st_mtime >= started_at - 1
    )
    print(f"Executed {NOTEBOOK.relative_to(ROOT)} in {time.monotonic() - started:.1f} s.")
    print(f"  notebook: {(OUT / 'quickstart.ipynb').relative_to(ROOT)} ({(OUT / 'quickstart.ipynb').stat().st_size:,} bytes)")
    print(f"  HTML:     {(OUT / 'quickstart.html').relative_to(ROOT)}  (open it in a browser)")
    print(f"  images:   {len(images)} saved in {(OUT / 'xenodia_outputs').relative_to(ROOT)}/")
    for image in images:
        print(f"            {image.name}")
    if emulator is not None:
        print(f"  emulator: {stats.billed_calls} billed calls, {stats.polls} polls, {stats.downloads} downloads")
    print("Next: your own JupyterLab against the emulator, in one shell:")
    print("  .venv/bin/python -m xenodia_jupyter.emulator --port 8765 &")
    print("  export XENODIA_BASE_URL=http://127.0.0.1:8765 XENODIA_API_KEY=emulator")
    print("  .venv/bin/python -m pip install jupyterlab   # once (make test installs it too)")
    print("  .venv/bin/jupyter lab notebooks/              # then, in a cell: %load_ext xenodia_jupyter and %xenodia panel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
