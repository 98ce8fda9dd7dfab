"""What every benchmark shares: the outcome record, timing, the emulator in its
own process, the 4K test image, RSS and a description of the machine.

Benchmarks report medians.  They never assert on a number: a target that is
missed is printed as MISSED, which is information for a human, not a failure.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
WORK = BUILD / "bench-tmp"  # scratch files: images, output folders, an IPython profile
PY = sys.executable
API_KEY = "bench-key"  # the emulator accepts any non-empty key

# The prompt of the 3840x2160 result used by the display and memory benchmarks.
PROMPT_4K = "A poster of a red bicycle leaning on a white wall, soft studio light"


@dataclass
class Outcome:
    """One printed line: our median, the baseline's median in the same run, and
    the target.  `ratio` is always ours / baseline (below 1: ours is smaller or
    faster); `met` is None when the target cannot be judged (no baseline)."""

    name: str
    unit: str
    ours: float | None
    baseline: float | None
    target: str
    met: bool | None
    reps: dict[str, int]
    samples: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    no_baseline: bool = False  # the benchmark has none (not: it could not be measured)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    def line(self) -> str:
        ratio = "n/a" if self.ratio is None else f"{_number(self.ratio)}x"
        verdict = {True: "met", False: "MISSED", None: "not judged"}[self.met]
        baseline = "none" if self.no_baseline else self._value(self.baseline)
        text = (
            f"{self.name}: ours={self._value(self.ours)}, baseline={baseline}, "
            f"ratio={ratio}  target: {self.target} [{verdict}]"
        )
        return text + (f"  ({self.note})" if self.note else "")

    def _value(self, value: float | None) -> str:
        if value is None:
            return "unavailable"
        return f"{_number(value)}{self.unit}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit.strip(),
            "ours_median": self.ours,
            "baseline_median": self.baseline,
            "ratio_ours_over_baseline": self.ratio,
            "target": self.target,
            "met": self.met,
            "repetitions": self.reps,
            "samples": self.samples,
            "extra": self.extra,
            "note": self.note,
        }


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# Timing ------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, value) of one call."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def repeat(fn: Callable[[], Any], reps: int, warmup: int = 1) -> list[float]:
    """Seconds of `reps` calls after `warmup` unmeasured ones."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(reps)]


def scaled(reps: int, scale: float) -> int:
    """Repetitions for a `--quick` run (scale < 1), never fewer than 1."""
    return max(1, round(reps * scale))


# Scratch space -----------------------------------------------------------------------


def fresh_dir(name: str) -> Path:
    path = WORK / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def png_4k() -> Path:
    """A real 3840x2160 result PNG: the emulator's render (a gradient and text),
    saved with Pillow's defaults (zlib level 6, a filter chosen per row), as a
    server written in Python would send it.  The emulator's own fast writer is
    not used: how a PNG was written changes how long it takes to decode."""
    path = WORK / "result-3840x2160.png"
    if not path.exists():
        from PIL import Image

        from xenodia_jupyter.emulator.render import render_image

        data = render_image(PROMPT_4K, "16:9", "4K", [])
        with Image.open(io.BytesIO(data)) as image:
            _save_png(image, path)
    return path


def photo_png_4k() -> Path:
    """A 3840x2160 photograph as PNG (Pillow's defaults): matplotlib's sample
    photo upscaled, with a little sensor-like noise, about 10 MB.  Photographs
    are where PNG is slow both to write and to read."""
    path = WORK / "photo-3840x2160.png"
    if not path.exists():
        import numpy as np
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            photo = Image.open(f).convert("RGB").resize((3840, 2160), Image.Resampling.BICUBIC)
        noise = np.random.default_rng(0).normal(0, 2.0, (2160, 3840, 3))
        pixels = np.clip(np.asarray(photo, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        _save_png(Image.fromarray(pixels), path)
    return path


def _save_png(image: Any, path: Path) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    image.save(tmp, "PNG")
    tmp.replace(path)


# The emulator, in a process of its own ----------------------------------------------------


@dataclass
class EmulatorProcess:
    base_url: str
    cdn_url: str
    pid: int
    api_key: str = API_KEY


@contextlib.contextmanager
def emulator_process(latency: float, *extra: str) -> Iterator[EmulatorProcess]:
    """`python -m xenodia_jupyter.emulator` on free loopback ports.

    In its own process the emulator's work (routing, JSON, rendering PNGs) does
    not take the GIL from the client we measure in this one.
    """
    log = (WORK / "emulator.log").open("ab")
    cmd = [PY, "-m", "xenodia_jupyter.emulator", "--port", "0", "--latency", str(latency), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=WORK)
    killer = threading.Timer(30, proc.kill)  # never hang on a server that does not start
    killer.start()
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition(": ")
            if key in ("base URL", "CDN URL"):
                urls[key] = value.strip()
            if line.startswith("Press Ctrl-C"):
                break
        killer.cancel()
        if len(urls) != 2:
            raise RuntimeError(f"the emulator did not start (see {WORK / 'emulator.log'})")
        yield EmulatorProcess(urls["base URL"], urls["CDN URL"], proc.pid)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


@dataclass
class CountingEmulator(EmulatorProcess):
    """An emulator process (`bench/emulator_server.py`) whose counters can be read."""

    proc: subprocess.Popen[str] | None = None

    def command(self, text: str) -> dict[str, Any]:
        import json

        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def stats(self) -> dict[str, int]:
        """The emulator's `Stats`: generate_posts, billed_calls, polls, downloads, model_requests, ..."""
        return self.command("stats")

    def reset(self) -> None:
        self.command("reset")


@contextlib.contextmanager
def counting_emulator(latency: float = 0.0, *, same_image: bool = False) -> Iterator[CountingEmulator]:
    """The emulator in its own process (as `emulator_process`), plus its counters
    (`.stats()`, `.reset()`), without a record of every request.  `same_image`:
    one render serves every task (see bench/emulator_server.py)."""
    log = (WORK / "emulator.log").open("ab")
    cmd = [PY, str(ROOT / "bench" / "emulator_server.py"), "--latency", str(latency), "--no-record"]
    if same_image:
        cmd.append("--same-image")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=WORK, bufsize=1
    )
    killer = threading.Timer(30, proc.kill)  # never hang on a server that does not start
    killer.start()
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition(": ")
            if key in ("base URL", "CDN URL"):
                urls[key] = value.strip()
            if line.startswith("Press Ctrl-C"):
                break
        killer.cancel()
        if len(urls) != 2:
            raise RuntimeError(f"the emulator did not start (see {WORK / 'emulator.log'})")
        yield CountingEmulator(urls["base URL"], urls["CDN URL"], proc.pid, proc=proc)
    finally:
        killer.cancel()
        if proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.close()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def child_json(args: list[str], timeout: float) -> dict[str, Any]:
    """Run `python <args>` in a fresh process (cwd: the scratch folder) and return
    the JSON object on the last line of its stdout."""
    import json

    proc = subprocess.run([PY, *args], capture_output=True, text=True, timeout=timeout, cwd=WORK)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# The machine ----------------------------------------------------------------------------


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "memory_total_mb": _memory_total_mb(),
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _memory_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None
