"""Best variant per built-in profile with and without Once-for-All sub-networks and Early-Bird pruning.

Builds every recipe of every shipped network (``reference_grid()``: the demo's three separately trained
widths, the six Once-for-All sub-networks, the three Early-Bird-pruned networks) in a throw-away
orchestrator data directory, then plans each built-in profile (objective min-energy) on four candidate
sets and prints a Markdown table:

* the demo's three separately trained networks (what the family shipped before issue 20);
* those plus the Early-Bird-pruned networks;
* those plus the Once-for-All sub-networks;
* the whole grid.

Energy and latency are the plan's prior estimates (nothing measured on a device); accuracy is the host's on
the scoring split, MACs and size from the card. ``tests/benchmarks/test_reference_grid.py`` (``make bench``)
prints the same table and measures the chosen variants with the agent's meter on this host.

    .venv/bin/python scripts/compare_reference_grid.py [--data DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.reference import reference_grid
from edgefleet.orchestrator.selection import Candidate, select
from edgefleet.orchestrator.server.app import open_services
from edgefleet.orchestrator.service.variants import BuildRequest
from edgefleet.orchestrator.variants.card import VariantCard
from edgefleet.orchestrator.variants.recipes import DEFAULT_RECIPES

PROFILE_ORDER = ("rpi4", "phone", "mcu-gateway")
ORIGINS = {m.base_name: m.origin for m in reference_grid().models}


def _origins(*kept: str) -> Callable[[VariantCard], bool]:
    return lambda c: ORIGINS.get(c.base_name) in kept


SETS: dict[str, Callable[[VariantCard], bool]] = {
    "separately trained w0.5/w1.0/w2.0 (before)": _origins("separately-trained"),
    "+ Early-Bird pruned": _origins("separately-trained", "early-bird"),
    "+ OFA sub-networks": _origins("separately-trained", "once-for-all"),
    "whole grid": _origins("separately-trained", "once-for-all", "early-bird"),
}


def build_grid(
    data: Path, recipes: Sequence[str] = DEFAULT_RECIPES
) -> tuple[list[VariantCard], list[Profile]]:
    """Every recipe of every shipped network, built in ``data`` (once: a second call reuses it)."""
    services = open_services(ServerConfig(data_dir=data, insecure=True, api_listen=""))
    try:
        grid = reference_grid()
        eval_npz = grid.eval_path.read_bytes()
        if not services.variants.list_variants(grid.model):
            for m in grid.models:
                print(f"building {m.base_name}", flush=True)
                services.variants.build(
                    BuildRequest(
                        model=grid.model,
                        base=m.path.read_bytes(),
                        eval_npz=eval_npz,
                        base_name=m.base_name,
                        recipes=tuple(recipes),
                        pruning=m.pruning,
                    )
                )
        order = {name: i for i, name in enumerate(PROFILE_ORDER)}
        profiles = sorted(
            services.plans.list_profiles(), key=lambda p: (order.get(p.name, len(order)), p.name)
        )
        return list(services.variants.list_variants(grid.model)), profiles
    finally:
        services.close()


def best(
    cards: Iterable[VariantCard], profiles: Sequence[Profile]
) -> dict[tuple[str, str], Candidate | None]:
    """(profile, set) -> the plan's choice among that set's variants (None: nothing feasible)."""
    cards = list(cards)
    return {
        (profile.name, label): select([c for c in cards if keep(c)], profile).chosen
        for profile in profiles
        for label, keep in SETS.items()
    }


def cell(card: VariantCard, chosen: Candidate) -> str:
    f = chosen.figures
    return (
        f"{card.base_name} {card.recipe}: {f.energy_j * 1e6:.2f} µJ, {(f.accuracy or 0):.2%}, "
        f"{card.facts.total_macs / 1e3:.0f} kMAC, {card.facts.size_bytes / 1024:.1f} KiB"
    )


def markdown(
    cards: Sequence[VariantCard],
    profiles: Sequence[Profile],
    chosen: dict[tuple[str, str], Candidate | None],
) -> str:
    by_id = {c.variant_id: c for c in cards}
    lines = ["| profile | " + " | ".join(SETS) + " |", "|---|" + "---|" * len(SETS)]
    for profile in profiles:
        cells = []
        for label in SETS:
            c = chosen[profile.name, label]
            cells.append("nothing feasible" if c is None else cell(by_id[c.variant.variant_id], c))
        lines.append(f"| {profile.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="orchestrator data dir (default: a temp dir)")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="edgefleet-grid-"))
    cards, profiles = build_grid(data)
    print(f"\n{len(cards)} variants; energy: the plan's prior estimate (objective min-energy)\n")
    print(markdown(cards, profiles, best(cards, profiles)))


if __name__ == "__main__":
    main()
