"""The kernel's one set of xenodia settings, read by the magics and the panel alike.

    %config XenodiaSettings.budget_usd = 1.0
    %config XenodiaMagics.resolution = "2K"     # the same setting, by its older name

`XenodiaSettings.instance()` is the kernel's object.  `XenodiaMagics` keeps
its own config traits (so `%config XenodiaMagics...` goes on working) and
links each of them both ways to this object; the panel reads this object
only, never the magics through IPython's registry.
"""

from __future__ import annotations

import copy
from typing import Any

from traitlets import Bool, Float, Int, TraitType, Unicode
from traitlets.config import SingletonConfigurable


class XenodiaSettings(SingletonConfigurable):
    """Defaults for generations made from this kernel."""

    aspect_ratio = Unicode(None, allow_none=True, help="Default aspect ratio (-a).").tag(config=True)
    resolution = Unicode(None, allow_none=True, help="Default resolution (-r).").tag(config=True)
    output_dir = Unicode(None, allow_none=True, help="Where images and the journal are kept.").tag(config=True)
    timeout = Float(600.0, help="Seconds to wait for a generation (--timeout).").tag(config=True)
    preview_size = Int(256, help="Thumbnail size in pixels of the inline preview.").tag(config=True)
    budget_usd = Float(
        None, allow_none=True, help="Refuse, before sending, any call past this session spend (magic and panel)."
    ).tag(config=True)
    confirm_above_usd = Float(
        1.0, allow_none=True, help="A cell that would cost more than this asks for --yes first (None: never asks)."
    ).tag(config=True)
    cache = Bool(False, help="Return an earlier identical result from the output folder instead of paying again.").tag(
        config=True
    )
    check_urls = Bool(
        True, help="Check URL references (reachable, an image, size) before sending; off for URLs only the API reaches."
    ).tag(config=True)


SHARED_TRAITS = (
    "aspect_ratio",
    "resolution",
    "output_dir",
    "timeout",
    "preview_size",
    "budget_usd",
    "confirm_above_usd",
    "check_urls",
    "cache",
)


def shared_trait(name: str) -> TraitType[Any, Any]:
    """A copy of one of `XenodiaSettings`' traits, for a class that offers the
    same setting under its own name (`XenodiaMagics`)."""
    trait = copy.copy(XenodiaSettings.class_traits()[name])
    trait.metadata = dict(trait.metadata)
    return trait


def kernel_settings() -> XenodiaSettings:
    """The kernel's settings object (made on first use, configured from IPython's config)."""
    if XenodiaSettings.initialized():
        return XenodiaSettings.instance()
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    settings = XenodiaSettings.instance(parent=shell) if shell is not None else XenodiaSettings.instance()
    if shell is not None and settings not in shell.configurables:
        shell.configurables.append(settings)  # so that %config XenodiaSettings.x = ... reaches it
    return settings
