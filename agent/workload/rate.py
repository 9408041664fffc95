"""The rate at which a device serves, as it is now: an exponentially weighted count of inferences per second.

Each inference adds ``1/tau`` and the sum decays by ``exp(-dt/tau)``, so a steady rate ``r`` reads ``r``
once the device has served for a few ``tau``; the reading is corrected for the time served so far (the
first seconds read ``r`` too, not a fraction of it). A benchmark job paces its candidates at this rate:
measured only from the job's own start, the first turn of a job read "nothing serves" whenever serving had
not yet caught up in its first second, and ran back to back (issue 16's pace test, failing on a loaded CI
machine: one turn 78,397 inferences at a serving rate of 19/s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RATE_TAU_S", "ServingRateMeter"]

#: Seconds over which the rate is averaged (a weight of 1/e at this age).
RATE_TAU_S = 10.0


@dataclass
class ServingRateMeter:
    """Not thread-safe: the caller holds its lock (``InferenceStats``)."""

    tau: float = RATE_TAU_S
    _value: float = 0.0
    _at: float = math.nan
    _since: float = math.nan

    def add(self, n: int, now: float) -> None:
        if math.isnan(self._since):
            self._since = self._at = now
        self._value = self._decayed(now) + n / self.tau
        self._at = now

    def per_second(self, now: float) -> float:
        """Inferences per second lately; 0 before the first."""
        if math.isnan(self._since):
            return 0.0
        # weights of the time observed so far (at least a second: one chunk at once is not a rate of
        # n per zero seconds)
        observed = 1.0 - math.exp(-max(now - self._since, 1.0) / self.tau)
        return self._decayed(now) / observed

    def _decayed(self, now: float) -> float:
        return self._value * math.exp(-max(now - self._at, 0.0) / self.tau)
