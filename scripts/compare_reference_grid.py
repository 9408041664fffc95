"""Best variant per built-in profile with and without Once-for-All sub-networks and Early-Bird pruning.

Builds, in a throw-away orchestrator data directory, every recipe of:

* ``separate``: the three separately trained widths the family shipped before issue 20 (``--separate DIR``
  with ``digits_w0.5.tflite``, ``_w1.0``, ``_w2.0``; e.g. ``git show 098d7d2:orchestrator/reference/...``);
* the shipped grid: the Once-for-All sub-networks at every width and the Early-Bird-pruned networks;

then plans each profile on three candidate sets (separate widths; the demo's three OFA widths plus the
other OFA widths; plus the pruned networks) and prints a Markdown table. Energy and latency are the plan's
prior estimates (no device has measured them); host latency is measured here (LiteRT, one thread).

    .venv/bin/python scripts/compare_reference_grid.py --separate /tmp/old-digits
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.reference import reference_grid
from edgefleet.orchestrator.selection import select
from edgefleet.orchestrator.server.app import open_services
from edgefleet.orchestrator.service.variants import BuildRequest
from edgefleet.orchestrator.variants.card import VariantCard

RECIPES = (
    "fp32",
    "fp16",
    "dynamic_wi8_afp32",
    "weight_only_wi8_afp32",
    "dynamic_wi4_afp32",
    "static_wi8_ai8",
)
SETS: dict[str, Callable[[VariantCard], bool]] = {
    "separately trained w0.5/w1.0/w2.0 (before)": lambda c: c.base_name.startswith("sep-"),
    "OFA sub-networks (6 widths)": lambda c: c.base_name.startswith("w") and "-p" not in c.base_name,
    "OFA + Early-Bird pruned (grid)": lambda c: c.base_name.startswith("w"),
}


def _cell(card: VariantCard | None, figures: object) -> str:
    if card is None:
        return "nothing feasible"
    f = figures
    return (
        f"{card.base_name} {card.recipe}: {f.energy_j * 1e6:.1f} µJ, {f.accuracy:.2%}, "  # type: ignore[attr-defined]
        f"{card.facts.total_macs / 1e3:.0f} kMAC, {card.facts.size_bytes / 1024:.1f} KiB, "
        f"host p50 {card.host.latency_p50_s * 1e6:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--separate", type=Path, required=True, help="folder with the old digits_w*.tflite")
    parser.add_argument("--data", type=Path, default=None, help="orchestrator data dir (default: a temp dir)")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="edgefleet-grid-"))
    services = open_services(ServerConfig(data_dir=data, insecure=True, api_listen=""))
    grid = reference_grid()
    eval_npz = grid.eval_path.read_bytes()
    bases = [(f"sep-w{w}", args.separate / f"digits_w{w}.tflite") for w in ("0.5", "1.0", "2.0")]
    bases += [(m.base_name, m.path) for m in grid.models]
    pruning = {m.base_name: m.pruning for m in grid.models}
    if not services.variants.list_variants("digits"):
        for name, path in bases:
            print(f"building {name}", flush=True)
            services.variants.build(
                BuildRequest(
                    model="digits",
                    base=path.read_bytes(),
                    eval_npz=eval_npz,
                    base_name=name,
                    recipes=RECIPES,
                    pruning=pruning.get(name),
                )
            )
    cards = services.variants.list_variants("digits")
    by_id = {c.variant_id: c for c in cards}
    print(f"\n{len(cards)} variants\n")
    print("| profile | " + " | ".join(SETS) + " |")
    print("|---|" + "---|" * len(SETS))
    for profile in services.plans.list_profiles():
        cells = []
        for keep in SETS.values():
            plan = select([c for c in cards if keep(c)], profile)
            chosen = plan.chosen
            cells.append(
                _cell(by_id[chosen.variant.variant_id] if chosen else None, chosen and chosen.figures)
            )
        print(f"| {profile.name} | " + " | ".join(cells) + " |")
    services.close()


if __name__ == "__main__":
    main()
