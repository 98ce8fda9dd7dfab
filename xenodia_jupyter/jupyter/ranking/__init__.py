"""Ranking results by pairwise choices (`xj.rank`): the widget; its JavaScript
and CSS live in `static/`."""

from .ranker import Ranker, rank

__all__ = ["Ranker", "rank"]
