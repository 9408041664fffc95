from __future__ import annotations

from edgefleet.orchestrator.variants.planner import Buffer, max_live_bytes, plan_greedy


def test_empty_plan() -> None:
    assert plan_greedy([]).arena_bytes == 0
    assert max_live_bytes([]) == 0


def test_buffers_with_disjoint_lifetimes_share_memory() -> None:
    plan = plan_greedy([Buffer("a", 100, 0, 1), Buffer("b", 100, 2, 3)])
    assert plan.offsets == {"a": 0, "b": 0}
    assert plan.arena_bytes == 100


def test_largest_first_then_first_gap() -> None:
    # C is placed first (largest); A does not overlap C in time so it shares offset 0;
    # B overlaps both A (step 1) and C (step 2) and goes above C.
    buffers = [Buffer("a", 10, 0, 1), Buffer("b", 10, 1, 2), Buffer("c", 20, 2, 3)]
    plan = plan_greedy(buffers)
    assert plan.offsets == {"c": 0, "a": 0, "b": 20}
    assert plan.arena_bytes == 30
    assert max_live_bytes(buffers) == 30


def test_a_gap_below_a_buffer_is_reused() -> None:
    # big [0,0] at 0..64; mid [1,2] at 0..32 (no overlap with big); small [0,1] overlaps both -> 64
    buffers = [Buffer("big", 64, 0, 0), Buffer("mid", 32, 1, 2), Buffer("small", 16, 0, 1)]
    plan = plan_greedy(buffers)
    assert plan.offsets["small"] == 64
    assert plan.arena_bytes == 80
    assert max_live_bytes(buffers) == 80


def test_greedy_can_exceed_the_live_lower_bound() -> None:
    # Fragmentation: after a and b are placed, c fits in neither gap.
    buffers = [
        Buffer("a", 40, 0, 1),
        Buffer("b", 40, 1, 2),
        Buffer("c", 30, 0, 0),
        Buffer("d", 30, 2, 2),
    ]
    plan = plan_greedy(buffers)
    assert plan.arena_bytes >= max_live_bytes(buffers)
    assert plan.offsets["a"] == 0
    assert plan.offsets["b"] == 40
