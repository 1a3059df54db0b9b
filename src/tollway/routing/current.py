"""The routing table of this process: built from the cache's channels, and built again whenever they change.

Routing owns the table; the cache (storage/cache.py) only says when its channels changed, so routing sits above
storage. Rebuilding happens at the change, never on the request path, and reads no database.
"""

from __future__ import annotations

from tollway.routing.selector import RoutingTable
from tollway.storage.cache import Cache


class CurrentRoutes:
    """Holds the current routing table over a cache's readable channels."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.table = RoutingTable.build(cache.routable_channels())
        cache.watch_channels(self.rebuild)

    def rebuild(self) -> None:
        """Build the table again from the cache's channels as they are now."""
        self.table = RoutingTable.build(self.cache.routable_channels())
