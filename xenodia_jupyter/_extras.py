"""Optional dependencies ("extras"): imported on first use, and when one is
missing the error says which command installs it.

    from ._extras import require
    require("emulator")          # raises MissingExtra naming pip install "xenodia-jupyter[emulator]"

Only this module knows which extra holds which packages; `python -m
xenodia_jupyter` reports them with `extras_status()`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from types import ModuleType

DISTRIBUTION = "xenodia-jupyter"


@dataclass(frozen=True)
class Requirement:
    """One package of an extra: its name on PyPI and the modules it may be imported as
    (the first one found counts)."""

    distribution: str
    modules: tuple[str, ...]
    needed: bool = True  # False: used when present (a speed-up), the feature works without it


EXTRAS: dict[str, tuple[str, tuple[Requirement, ...]]] = {
    "emulator": (
        "the local Xenodia emulator (xenodia_jupyter.emulator)",
        (
            Requirement("starlette", ("starlette",)),
            Requirement("uvicorn", ("uvicorn",)),
            Requirement("python-multipart", ("python_multipart", "multipart")),
            Requirement("httptools", ("httptools",), needed=False),  # uvicorn falls back to h11
        ),
    ),
    "storage": (
        "output_dir on remote storage (s3://, gs://, ... through fsspec)",
        (
            Requirement("fsspec", ("fsspec",)),
            Requirement("universal_pathlib", ("upath",)),
        ),
    ),
    "cluster": (
        "generate_many(executor=dask_client): jobs on a Dask cluster",
        (
            Requirement("distributed", ("distributed",)),
            Requirement("fsspec", ("fsspec",)),
            Requirement("universal_pathlib", ("upath",)),
        ),
    ),
    "data": (
        "ResultList.to_pandas() and to_parquet()",
        (
            Requirement("pandas", ("pandas",)),
            Requirement("pyarrow", ("pyarrow",)),
        ),
    ),
}


class MissingExtra(ImportError):
    """An optional feature was used without its extra installed.  An `ImportError`,
    so ``except ImportError`` keeps working; the message names the pip command."""

    def __init__(self, extra: str, missing: list[str], feature: str | None = None) -> None:
        self.extra = extra
        self.missing = list(missing)
        self.command = install_command(extra)
        what = feature or (EXTRAS[extra][0] if extra in EXTRAS else "this feature")
        packages = ", ".join(self.missing)
        super().__init__(
            f"{what} needs the [{extra}] extra, which is not installed (missing: {packages}). "
            f"Install it with:  {self.command}",
            name=self.missing[0] if self.missing else None,
        )


MissingExtraError = MissingExtra  # the longer spelling


def install_command(extra: str) -> str:
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def _find(modules: tuple[str, ...]) -> str | None:
    """The first of `modules` that can be imported, without importing it."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return module
        except (ImportError, ValueError):  # a half-removed module, or a hidden one (tests)
            continue
    return None


def missing(extra: str) -> list[str]:
    """The needed packages of `extra` that are not importable (PyPI names)."""
    return [req.distribution for req in EXTRAS[extra][1] if req.needed and _find(req.modules) is None]


def require(extra: str, feature: str | None = None) -> None:
    """Import every needed package of `extra`, or raise `MissingExtra`.  Importing
    (not only finding) them catches a package that is present but broken."""
    absent: list[str] = []
    for req in EXTRAS[extra][1]:
        if not req.needed:
            continue
        for module in req.modules:
            try:
                importlib.import_module(module)
                break
            except ImportError:
                continue
        else:
            absent.append(req.distribution)
    if absent:
        raise MissingExtra(extra, absent, feature)


def import_optional(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """`import module`, or `MissingExtra` for `extra` when it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if isinstance(exc, MissingExtra):
            raise
        top = module.split(".")[0]
        distribution = next(
            (req.distribution for req in EXTRAS.get(extra, ("", ()))[1] if top in req.modules), top
        )
        raise MissingExtra(extra, [distribution], feature) from exc


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def extras_status() -> dict[str, dict[str, str | None]]:
    """For each extra, each of its packages and the installed version (None: absent).
    Nothing is imported."""
    status: dict[str, dict[str, str | None]] = {}
    for extra, (_, requirements) in EXTRAS.items():
        status[extra] = {
            req.distribution: (_version(req.distribution) or "installed") if _find(req.modules) else None
            for req in requirements
        }
    return status
