"""The pruning record travels with the card: stored JSON, the wire, and the plan's grouped rendering."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from edgefleet.orchestrator.cli.plans import print_plan
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.selection import select
from edgefleet.orchestrator.variants.card import PruningRecord, VariantCard
from edgefleet.orchestrator.wire.variants import card_from_pb, card_to_pb
from tests.helpers.cards import card

RECORD = PruningRecord(
    ratio=0.5,
    ticket_epoch=7,
    ticket_drawn=True,
    threshold=0.1,
    mask_distance=0.083,
    search_epochs=20,
    finetune_epochs=15,
    l1=1e-4,
    macs_before=367_242,
    macs_after=118_090,
    parameters_before=3_888,
    parameters_after=1_338,
    channels_before=112,
    channels_after=56,
)


def test_record_survives_json_and_the_wire() -> None:
    pruned = dataclasses.replace(card("p", base="w1.0-p0.5"), pruning=RECORD)
    plain = card("d", base="w1.0")
    for c in (pruned, plain):
        assert VariantCard.from_json(c.to_json()) == c
        assert card_from_pb(card_to_pb(c)) == c
    assert "ticket at epoch 7 (mask distance 0.083 < 0.1)" in RECORD.describe()
    assert "MACs 367,242 -> 118,090" in RECORD.describe()
    undrawn = dataclasses.replace(RECORD, ticket_drawn=False, ticket_epoch=20, mask_distance=0.2)
    assert "no ticket within 20 epochs (mask distance 0.200)" in undrawn.describe()


def test_plan_with_many_variants_reads_front_first_and_groups_rejections() -> None:
    profile = ProfileRegistry.load().get("mcu-gateway")
    cards = []
    for i in range(20):  # float variants: rejected on an MCU for one reason
        cards.append(card(f"f{i}", recipe="fp32", base=f"w{i}", full_integer=False))
    for i in range(30):  # int8: some under the accuracy floor, some fine
        cards.append(card(f"q{i}", base=f"w{i}", accuracy=0.80 + i * 0.005, ops_j=1e-6 * (1 + i)))
    plan = select(cards, profile)
    out = io.StringIO()
    print_plan(Console(file=out, width=200, color_system=None), plan)
    text = out.getvalue()
    lines = text.splitlines()
    assert "CHOSEN" in lines[4]  # the first row of the table is the chosen variant
    rejected = [c for c in plan.candidates if not (c.pareto or c.feasible)]
    assert f"{len(rejected)} rejected" in text
    # One row per reason, with a count, not one row per variant.
    assert sum("not full-integer (float32 compute)" in line for line in lines) == 1
    assert sum("accuracy … < floor 90.00%" in line for line in lines) == 1
    assert "w0/static_wi8_ai8 80.00%" in text
    assert len(lines) < len(cards)
