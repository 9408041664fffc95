"""Early-Bird tickets (You et al., ICLR 2020, arXiv:1909.11957): when does a channel mask stop changing?

While a network trains with an L1 penalty on its batch-norm scales, the pruning mask those scales imply
(which channels are kept at a given ratio) settles early. The mask of each epoch goes into a queue of
the last ``window`` masks; once the queue is full and the newest mask differs from every other one in
it by less than ``threshold`` (normalised Hamming distance), the ticket is drawn. Defaults follow the
paper's code (RICE-EIC/Early-Bird-Tickets ``EarlyBird``: a queue of 5, distance 0.1).

The ratio applies to every channel group alike (``layer_masks``): each keeps the same share of its
channels, the ones with the largest scales. A global threshold (Network Slimming) can empty cheap
layers and leave the widest one, which sets an MCU's SRAM peak, untouched; a per-group ratio cuts
every layer's MACs and activations by at least the ratio. No TensorFlow here: the detector works on
plain arrays.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EarlyBirdDetector", "Ticket", "kept_channels", "layer_masks", "mask_distance"]

#: The paper's queue length and distance threshold.
WINDOW = 5
THRESHOLD = 0.1


def kept_channels(n: int, ratio: float) -> int:
    """How many of ``n`` channels survive pruning ``ratio`` of them: at most ``(1 - ratio) * n``, and 1."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    return max(1, math.floor((1.0 - ratio) * n + 1e-9))


def layer_masks(scores: Sequence[np.ndarray], ratio: float) -> list[np.ndarray]:
    """One boolean keep-mask per channel group: the ``kept_channels`` largest scores (ties: lower index)."""
    masks = []
    for s in scores:
        s = np.abs(np.asarray(s, dtype=np.float64)).ravel()
        keep = kept_channels(len(s), ratio)
        order = np.argsort(-s, kind="stable")
        mask = np.zeros(len(s), dtype=bool)
        mask[order[:keep]] = True
        masks.append(mask)
    return masks


def mask_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised Hamming distance between two masks over the same channels (0: identical)."""
    a, b = np.asarray(a, dtype=bool).ravel(), np.asarray(b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"masks differ in length: {a.size} vs {b.size}")
    return float(np.count_nonzero(a != b)) / max(1, a.size)


@dataclass(frozen=True, slots=True)
class Ticket:
    #: Epochs trained when the ticket was drawn (1-based).
    epoch: int
    #: Largest distance between the newest mask and the others in the queue at that epoch.
    distance: float
    #: The mask drawn (all groups concatenated).
    mask: np.ndarray
    #: False: the search ran out of epochs before the distance fell under the threshold; the last mask
    #: was taken.
    drawn: bool = True


class EarlyBirdDetector:
    """Feed one mask per epoch to ``update``; it returns the ticket on the epoch it is drawn."""

    def __init__(self, *, threshold: float = THRESHOLD, window: int = WINDOW) -> None:
        if window < 2:
            raise ValueError("the window needs at least 2 masks to compare")
        self.threshold = threshold
        self.window = window
        self._queue: deque[np.ndarray] = deque(maxlen=window)
        self.epoch = 0
        #: Per epoch: the largest distance in the queue (None until the queue is full).
        self.history: list[float | None] = []
        self.ticket: Ticket | None = None

    def update(self, mask: np.ndarray) -> Ticket | None:
        mask = np.asarray(mask, dtype=bool).ravel().copy()
        self.epoch += 1
        self._queue.append(mask)
        if len(self._queue) < self.window:
            self.history.append(None)
            return None
        newest = self._queue[-1]
        distance = max(mask_distance(newest, other) for other in list(self._queue)[:-1])
        self.history.append(distance)
        if self.ticket is None and distance < self.threshold:
            self.ticket = Ticket(self.epoch, distance, newest)
            return self.ticket
        return None

    def give_up(self) -> Ticket:
        """The search's epochs are spent: the last mask, recorded as not drawn."""
        if self.ticket is not None:
            return self.ticket
        if not self._queue:
            raise ValueError("no mask was seen")
        last = self.history[-1] if self.history else None
        return Ticket(self.epoch, 1.0 if last is None else last, self._queue[-1], drawn=False)
