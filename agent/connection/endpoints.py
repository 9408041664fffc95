"""The orchestrator's addresses (replicas): the agent stays on one while its streams work, and moves to
the next when a stream fails or ends; after a whole round without a stream the connect loop backs off.

One DNS name with several records needs nothing here: gRPC resolves it and tries each address in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

__all__ = ["Endpoints"]

log = logging.getLogger("edgefleet.agent")


class Endpoints:
    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("at least one orchestrator address is needed")
        self.addresses = tuple(addresses)
        self._index = 0
        #: Moves from one address to the next (failovers, when there are several).
        self.moves = 0

    @property
    def current(self) -> str:
        return self.addresses[self._index]

    def __str__(self) -> str:
        return ",".join(self.addresses)

    def next(self) -> str:
        """The stream on the current address failed or ended: try the next one (the same when alone)."""
        if len(self.addresses) > 1:
            previous = self.current
            self._index = (self._index + 1) % len(self.addresses)
            self.moves += 1
            log.info("orchestrator %s did not hold; trying %s next", previous, self.current)
        return self.current
