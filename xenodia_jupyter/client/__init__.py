"""The clients users hold: `AsyncClient`, composed from the core's named parts
and the jobs' runner (its methods delegate in a line or three), and `Client`,
the blocking facade that runs it on a private loop thread.
"""

from .async_client import AsyncClient, Client, PreparedGeneration

__all__ = ["AsyncClient", "Client", "PreparedGeneration"]
