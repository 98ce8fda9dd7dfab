"""The package as users get it.

Fast: `python -m xenodia_jupyter` (never the key), the quickstart copy, and the
metadata (one version source, floors that match .ci/floors.txt, a changelog).

Slow (still run by `make test`): build the sdist and wheel with `python -m
build` from a copy of the tree, install the wheel with NO extras into a fresh
venv under build/ (on each Python in XENODIA_RELEASE_PYTHON, which `make
test` sets to 3.12 and 3.13), and check import, `%load_ext`, `%%xenodia --dry-run`, a real
generation against an emulator run by this (test) environment, and the
missing-extra message; then install `[emulator]` and run the quickstart
notebook copied out of the installed package's data, with no key, as a new
user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

import xenodia_jupyter
from xenodia_jupyter.__main__ import copy_quickstart, main

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
KEY = "release-test-secret-key-7e57"
COMMAND = 'pip install "xenodia-jupyter[emulator]"'


def run_info(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xenodia_jupyter", *args],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )


# -- python -m xenodia_jupyter ---------------------------------------------------------


def test_info_shows_version_folders_url_and_extras_but_never_the_key(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": "http://127.0.0.1:9", "XENODIA_OUTPUT_DIR": str(out)}
    proc = run_info(env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert KEY not in text and KEY[:12] not in text
    assert f"xenodia-jupyter {xenodia_jupyter.__version__}" in text
    assert f"output folder: {out.resolve()}" in text
    assert str(out.resolve() / "journal.sqlite3") in text
    assert "API key:       set" in text
    assert "base URL:      http://127.0.0.1:9" in text
    assert re.search(r"\[emulator\] installed \(starlette \S+, uvicorn \S+, python-multipart \S+", text), text


def test_info_without_a_key_names_the_variable_and_the_default_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("XENODIA_API_KEY", "XENODIA_BASE_URL")}
    proc = run_info({**env, "XENODIA_OUTPUT_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "API key:       not set (XENODIA_API_KEY)" in proc.stdout
    assert "base URL:      https://api.xenodia.xyz (default)" in proc.stdout


def test_quickstart_is_copied_without_outputs_and_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = copy_quickstart(tmp_path / "nb")
    notebook = json.loads(target.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert any("%load_ext xenodia_jupyter" in "".join(c["source"]) for c in code)
    assert main(["quickstart", str(tmp_path / "nb")]) == 1
    assert "exists already" in capsys.readouterr().err


# -- metadata ----------------------------------------------------------------------------


def test_one_version_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "xenodia_jupyter._version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", xenodia_jupyter.__version__)


def test_changelog_starts_with_this_release() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    first = re.search(r"^## \[?(\d+\.\d+\.\d+)", text, re.M)
    assert first is not None and first.group(1) == xenodia_jupyter.__version__


def _floors() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_the_floors_tested_are_the_floors_declared() -> None:
    """Every lower bound in the dependencies and the emulator extra is pinned in
    .ci/floors.txt (which `make test-floors` installs), and no higher."""
    project = PYPROJECT["project"]
    declared = {}
    for text in [*project["dependencies"], *project["optional-dependencies"]["emulator"]]:
        req = Requirement(text)
        (spec,) = [s for s in req.specifier if s.operator == ">="]
        declared[req.name.lower()] = spec.version
    pins = _floors()
    for name, floor in declared.items():
        assert name in pins, f"{name}>={floor} is not tested: add it to .ci/floors.txt"
        assert Version(pins[name]) == Version(floor), f"{name}: pyproject says >={floor}, .ci/floors.txt tests {pins[name]}"


def test_classifiers_claim_the_pythons_that_make_test_runs() -> None:
    project = PYPROJECT["project"]
    claimed = {c.rsplit(" ", 1)[1] for c in project["classifiers"] if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    makefile = (ROOT / "Makefile").read_text()
    tested = set(re.findall(r"^PYTHON_\w+\s*\?=.*?python(3\.\d+)", makefile, re.M))  # the first one a line names
    tested.add(f"{sys.version_info[0]}.{sys.version_info[1]}")  # .venv's own
    assert claimed == tested, (claimed, tested)
    oldest = min(claimed, key=lambda v: tuple(map(int, v.split("."))))
    assert project["requires-python"] == f">={oldest}"
    assert {"Framework :: Jupyter", "Framework :: IPython", "Typing :: Typed"} <= set(project["classifiers"])
    assert {"Source", "Issues", "Changelog"} <= set(project["urls"])


# -- the wheel, installed as users get it -------------------------------------------------

IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis",
    "xenodia_outputs", ".ipynb_checkpoints", "node_modules",
)


def sh(*cmd: str | Path, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it fails."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist and wheel from `python -m build`, built from a copy of the tree so
    that the checkout gets no build/ or egg-info debris from this test."""
    work = tmp_path_factory.mktemp("release")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=IGNORE)
    sh(sys.executable, "-m", "build", "--outdir", work / "dist", source)
    (wheel,) = (work / "dist").glob("*.whl")
    (sdist,) = (work / "dist").glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


# The Pythons that get the wheel: XENODIA_RELEASE_PYTHON, paths separated by ":"
# (`make test` names 3.12 and 3.13); this one when unset.
RELEASE_PYTHONS = (os.environ.get("XENODIA_RELEASE_PYTHON") or sys.executable).split(os.pathsep)


@pytest.fixture(scope="module", params=RELEASE_PYTHONS, ids=[Path(p).name for p in RELEASE_PYTHONS])
def venv(request: pytest.FixtureRequest, dists: dict[str, Path]) -> Iterator[Path]:
    python = request.param
    version = sh(python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    home = ROOT / "build" / f"release-venv-{version}"
    shutil.rmtree(home, ignore_errors=True)
    sh(python, "-m", "venv", home)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def user_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XENODIA_", "VIRTUAL_ENV", "PYTHON"))}
    return {**env, "XENODIA_OUTPUT_DIR": str(tmp / "out"), **extra}


def test_dists_carry_the_metadata_an_index_shows(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = wheel.namelist()
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = wheel.read(meta_name).decode()
    assert f"Version: {xenodia_jupyter.__version__}\n" in meta
    for line in ("Classifier: Framework :: Jupyter", "Classifier: Typing :: Typed", "Project-URL: Changelog",
                 "Description-Content-Type: text/markdown", 'Provides-Extra: emulator'):
        assert line in meta
    assert "xenodia_jupyter/py.typed" in names
    assert any(n.endswith("data/share/jupyter/xenodia-jupyter/notebooks/quickstart.ipynb") for n in names)
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "xenodia_jupyter").rglob("__init__.py")}
    shipped = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert packages == shipped
    # The long description is the README.  Its pictures are relative paths (they show offline and in
    # JupyterLab's Markdown preview); each must be a file the sdist ships, so a copy renders whole.
    description = meta.split("\n\n", 1)[1]
    with tarfile.open(dists["sdist"]) as sdist:
        shipped_files = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for target in re.findall(r"!\[[^\]]*\]\((?!https?://)([^)]+)\)", description):
        assert target in shipped_files, f"the README shows {target}, which the sdist does not ship"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_works_on_its_own_and_says_what_is_missing(dists: dict[str, Path], venv: Path, tmp_path: Path) -> None:
    from xenodia_jupyter.emulator import Emulator

    py = venv / "bin" / "python"
    pip: list[str | Path] = [py, "-m", "pip", "install", "--quiet"]
    sh(*pip, dists["wheel"])
    env = user_env(tmp_path)

    # Import and version, with no extras; the info command says how to get the emulator.
    assert sh(py, "-c", "import xenodia_jupyter as x; print(x.__version__)", env=env, cwd=tmp_path).stdout.strip() == xenodia_jupyter.__version__
    info = sh(py, "-m", "xenodia_jupyter", env=env, cwd=tmp_path).stdout
    assert f"[emulator] not installed: {COMMAND}" in info

    # The missing extra explains itself, from Python and from the command line.
    probe = (
        "from xenodia_jupyter._extras import MissingExtra\n"
        "try:\n    from xenodia_jupyter.emulator import Emulator\n"
        "except MissingExtra as exc:\n    assert isinstance(exc, ImportError); print(exc)\n"
    )
    assert COMMAND in sh(py, "-c", probe, env=env, cwd=tmp_path).stdout
    cli = subprocess.run([py, "-m", "xenodia_jupyter.emulator"], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert cli.returncode == 2 and COMMAND in cli.stderr and "Traceback" not in cli.stderr

    # pytest loads the plugin (entry point pytest11) wherever pytest is installed:
    # without the extra it still loads, and its emulator fixture says what to install.
    sh(*pip, "pytest")
    (tmp_path / "usertests").mkdir()
    (tmp_path / "usertests" / "test_mine.py").write_text("def test_mine(xenodia_emulator):\n    pass\n")
    user = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", tmp_path / "usertests"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False,
    )
    assert user.returncode == 1 and "MissingExtra" in user.stdout and COMMAND in user.stdout, user.stdout[-3000:]

    with Emulator(latency=0.1, poll_interval_ms=20, api_key=KEY) as emu:
        env = user_env(tmp_path, XENODIA_API_KEY=KEY, XENODIA_BASE_URL=emu.base_url)
        # %load_ext and a dry run in IPython (a dependency of ipywidgets): nothing is billed.
        code = (
            "%load_ext xenodia_jupyter\n"
            "dry = get_ipython().run_cell_magic('xenodia', '--dry-run -a 16:9 -r 2K', 'a cat')\n"
            "print(type(dry).__name__, dry.price_usd > 0)\n"
        )
        out = sh(venv / "bin" / "ipython", "--no-banner", "--quick", "-c", code, env=env, cwd=tmp_path).stdout
        assert "DryRun True" in out, out
        assert emu.stats.billed_calls == 0
        # A real generation with xj.Client against the emulator of the test environment.
        code = (
            "import xenodia_jupyter as xj\n"
            "with xj.Client() as client:\n"
            "    r = client.generate('a red bicycle', aspect_ratio='16:9')\n"
            "print(r.image.size, r.paths[0].is_file(), r.cost_usd is not None)\n"
        )
        out = sh(py, "-c", code, env=env, cwd=tmp_path).stdout
        assert out.split()[-2:] == ["True", "True"], out
        assert emu.stats.billed_calls == 1
        assert KEY not in out

    # With [emulator]: the quickstart notebook from the installed package's data
    # runs top to bottom with no key (it falls back to the emulator it now has).
    sh(*pip, f"{dists['wheel']}[emulator]", "ipykernel", "nbclient")
    env = user_env(tmp_path)
    assert "[emulator] installed" in sh(py, "-m", "xenodia_jupyter", env=env, cwd=tmp_path).stdout
    sh(py, "-m", "xenodia_jupyter", "quickstart", tmp_path / "nb", env=env, cwd=tmp_path)
    run = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "NotebookClient(nb, timeout=120, kernel_name='python3', resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "errors = [c.source for c in nb.cells if c.cell_type == 'code' and 'raises-exception' not in c.metadata.get('tags', [])"
        " and any(o.output_type == 'error' for o in c.outputs)]\n"
        "print('errors:', errors)\n"
    )
    notebook = tmp_path / "nb" / "quickstart.ipynb"
    assert "site-packages" not in str(notebook) and ROOT not in notebook.parents
    out = sh(py, "-c", run, notebook, tmp_path / "nb", env=env, cwd=tmp_path, timeout=300).stdout
    assert "errors: []" in out, out
    assert len(list((tmp_path / "out").glob("*.png"))) >= 3
