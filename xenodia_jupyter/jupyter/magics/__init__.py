"""`%%xenodia` and `%xenodia`: argument parsing, the magics class, and the run
of one cell's generations on the engine thread.
"""

from .magics import XenodiaMagics
from .short_errors import short_traceback

__all__ = ["XenodiaMagics", "short_traceback"]
