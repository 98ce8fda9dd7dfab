"""A local Xenodia for demos and tests: the whole API contract on loopback, no key, no network.

    from xenodia_jupyter.emulator import Emulator
    with Emulator(mode="task", latency=0.5) as emu:
        emu.base_url, emu.api_key, emu.stats

or from a shell: ``python -m xenodia_jupyter.emulator --port 8765``.

Needs the ``[emulator]`` extra (starlette, uvicorn, python-multipart): without it,
the first use of a name raises ``xenodia_jupyter._extras.MissingExtra`` (an
``ImportError``) naming ``pip install "xenodia-jupyter[emulator]"``.  Importing
this package is cheap: the server modules load on first use of a name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app, create_cdn_app
    from .render import render_image
    from .server import TEST_API_KEY, Emulator
    from .state import EmulatorState, RecordedRequest, Stats

__all__ = [
    "Emulator",
    "EmulatorState",
    "RecordedRequest",
    "Stats",
    "TEST_API_KEY",
    "create_app",
    "create_cdn_app",
    "render_image",
]

_HOMES = {
    "Emulator": ".server",
    "TEST_API_KEY": ".server",
    "EmulatorState": ".state",
    "RecordedRequest": ".state",
    "Stats": ".state",
    "create_app": ".app",
    "create_cdn_app": ".app",
    "render_image": ".render",
}


# The modules that need the [emulator] extra (the state and the renderer need only Pillow).
_NEEDS_EXTRA = {".server", ".app"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _HOMES[name] in _NEEDS_EXTRA:
        from .._extras import require

        require("emulator")  # MissingExtra: names pip install "xenodia-jupyter[emulator]"
    value = getattr(importlib.import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
