"""The Early-Bird detector on synthetic mask sequences: the ticket is drawn at the right epoch."""

from __future__ import annotations

import numpy as np
import pytest

from edgefleet.orchestrator.variants.earlybird import (
    EarlyBirdDetector,
    kept_channels,
    layer_masks,
    mask_distance,
)


def _random_masks(n: int, channels: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(channels) < 0.5 for _ in range(n)]


def test_ticket_is_drawn_once_the_queue_holds_only_the_settled_mask() -> None:
    channels = 200
    churn = _random_masks(6, channels, seed=0)  # epochs 1-6: the mask keeps changing (~50 % of channels)
    settled = np.arange(channels) % 3 == 0
    detector = EarlyBirdDetector(threshold=0.1, window=5)
    drawn_at = []
    for epoch, mask in enumerate([*churn, *[settled] * 10], start=1):
        if detector.update(mask) is not None:
            drawn_at.append(epoch)
    # Settled from epoch 7; the queue of 5 holds only settled masks at epoch 11, not before.
    assert drawn_at == [11]
    ticket = detector.ticket
    assert ticket is not None
    assert ticket.drawn
    assert ticket.epoch == 11
    assert ticket.distance == 0.0
    np.testing.assert_array_equal(ticket.mask, settled)
    assert detector.history[:4] == [None] * 4  # the queue fills first
    assert all(d is not None and d > 0.1 for d in detector.history[4:10])


def test_small_changes_under_the_threshold_still_draw_the_ticket() -> None:
    channels = 100
    base = np.zeros(channels, dtype=bool)
    base[:50] = True
    sequence = []
    for epoch in range(12):
        mask = base.copy()
        if epoch < 4:  # early epochs: 30 channels swap each time
            mask = np.roll(mask, 15 * (epoch + 1))
        else:  # then one extra channel alternates between two places: distance 0.02 < 0.1
            mask[50 + epoch % 2] = True
        sequence.append(mask)
    detector = EarlyBirdDetector(threshold=0.1, window=5)
    drawn = [detector.update(m) for m in sequence]
    first = next(i for i, t in enumerate(drawn, start=1) if t is not None)
    assert first == 9  # epochs 5..9 are the first five stable masks in the queue
    assert detector.ticket is not None
    assert detector.ticket.distance == pytest.approx(0.02)
    # A stricter threshold never draws it on the same sequence; the search gives up on the last mask.
    strict = EarlyBirdDetector(threshold=0.01, window=5)
    assert all(strict.update(m) is None for m in sequence)
    given = strict.give_up()
    assert not given.drawn
    assert given.epoch == len(sequence)
    np.testing.assert_array_equal(given.mask, sequence[-1])


def test_distance_and_masks() -> None:
    a = np.array([1, 1, 0, 0], dtype=bool)
    assert mask_distance(a, a) == 0.0
    assert mask_distance(a, ~a) == 1.0
    assert mask_distance(a, np.array([1, 0, 0, 0], dtype=bool)) == 0.25
    with pytest.raises(ValueError, match="differ in length"):
        mask_distance(a, a[:3])
    scores = [np.array([0.1, -0.9, 0.5, 0.2]), np.array([3.0, 1.0])]
    masks = layer_masks(scores, 0.5)
    # The largest |scale| survive, per group; every group keeps at least one channel.
    np.testing.assert_array_equal(masks[0], [False, True, True, False])
    np.testing.assert_array_equal(masks[1], [True, False])
    assert [kept_channels(n, 0.3) for n in (1, 4, 5, 10, 16)] == [1, 2, 3, 7, 11]
    assert all(
        kept_channels(n, r) <= (1 - r) * n or kept_channels(n, r) == 1
        for n in range(1, 70)
        for r in (0.3, 0.5, 0.7)
    )
    with pytest.raises(ValueError, match="ratio"):
        kept_channels(8, 1.0)
