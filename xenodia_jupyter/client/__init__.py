"""The clients users hold: `AsyncClient`, composed from the core's named parts
and the batch runner (its methods delegate in a line or three), and `Client`,
the blocking facade that runs it on a private loop thread.
"""

from ..core.preparer import PreparedGeneration
from .async_client import AsyncClient
from .sync_client import Client

__all__ = ["AsyncClient", "Client", "PreparedGeneration"]
