"""Optional features say which extra they need: with a package of the [emulator]
extra hidden, the emulator raises `MissingExtra` (an ImportError) that names
`pip install "xenodia-jupyter[emulator]"`.  Each case runs in a subprocess whose
import system refuses the hidden packages, so this process stays clean."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xenodia_jupyter._extras import EXTRAS, MissingExtra, extras_status, install_command, missing

COMMAND = 'pip install "xenodia-jupyter[emulator]"'

# Prepended to every script: a meta path finder that refuses the named top-level
# packages, as if they were not installed.
HIDE = """
import importlib.abc, sys
HIDDEN = set({hidden!r})
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
for name in list(sys.modules):
    if name.split(".")[0] in HIDDEN:
        del sys.modules[name]
sys.meta_path.insert(0, Hide())
"""


def run_hidden(hidden: list[str], body: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = HIDE.format(hidden=sorted(hidden)) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, check=False
    )


IMPORT_EMULATOR = """
import json
from xenodia_jupyter._extras import MissingExtra
try:
    from xenodia_jupyter.emulator import Emulator
except ImportError as exc:
    print(json.dumps({"type": type(exc).__name__, "missing_extra": isinstance(exc, MissingExtra),
                      "message": str(exc), "missing": getattr(exc, "missing", None)}))
else:
    print(json.dumps({"type": None}))
"""

# What each package of the extra is imported as.
PACKAGES = {"starlette": ["starlette"], "uvicorn": ["uvicorn"], "python-multipart": ["python_multipart", "multipart"]}


@pytest.mark.parametrize("distribution", sorted(PACKAGES))
def test_each_missing_package_of_the_emulator_names_the_install_command(distribution: str) -> None:
    proc = run_hidden(PACKAGES[distribution], IMPORT_EMULATOR)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["type"] == "MissingExtra" and outcome["missing_extra"], outcome
    assert COMMAND in outcome["message"]
    assert distribution in outcome["message"]
    assert outcome["missing"] == [distribution]


def test_the_whole_extra_missing_lists_every_package() -> None:
    proc = run_hidden([m for mods in PACKAGES.values() for m in mods] + ["httptools"], IMPORT_EMULATOR)
    outcome = json.loads(proc.stdout)
    assert outcome["missing"] == ["starlette", "uvicorn", "python-multipart"], outcome
    assert COMMAND in outcome["message"]


def test_without_the_extra_the_package_and_the_client_still_work() -> None:
    body = """
    import xenodia_jupyter as xj
    from xenodia_jupyter import emulator                 # the package itself imports
    from xenodia_jupyter.emulator import render_image    # Pillow only: no extra needed
    assert xj.Client is not None and xj.XenodiaError is not None
    print(render_image.__name__)
    """
    proc = run_hidden(["starlette", "uvicorn", "httptools", "python_multipart", "multipart"], body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "render_image"


def test_the_emulator_command_says_what_to_install() -> None:
    body = """
    import runpy, sys
    sys.argv = ["python -m xenodia_jupyter.emulator", "--port", "0"]
    runpy.run_module("xenodia_jupyter.emulator", run_name="__main__")
    """
    proc = run_hidden(["uvicorn"], body)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert COMMAND in proc.stderr
    assert "Traceback" not in proc.stderr


def test_httptools_is_optional_the_emulator_runs_without_it() -> None:
    body = """
    import httpx
    from xenodia_jupyter.emulator import Emulator
    with Emulator(latency=0.0) as emu:
        r = httpx.get(emu.base_url + "/v1/models", headers={"Authorization": "Bearer " + emu.api_key})
        print(r.status_code)
    """
    proc = run_hidden(["httptools"], body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "200"


def test_status_reports_what_is_installed_here_without_importing() -> None:
    status = extras_status()
    assert set(status) == set(EXTRAS)
    assert all(status["emulator"].values())  # the dev environment has the extra
    assert missing("emulator") == []


def test_missing_extra_is_an_import_error_with_the_command() -> None:
    exc = MissingExtra("emulator", ["uvicorn"])
    assert isinstance(exc, ImportError)
    assert exc.command == install_command("emulator") == COMMAND
    assert exc.name == "uvicorn"
    assert COMMAND in str(exc)


def test_export_without_the_data_extra_names_the_command(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pandas', 'pyarrow'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import xenodia_jupyter as xj\n"
        "try:\n"
        "    xj.ResultList().to_pandas()\n"
        "except xj.MissingExtra as e:\n"
        "    print(e.command)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.stdout.strip() == 'pip install "xenodia-jupyter[data]"', done.stderr
