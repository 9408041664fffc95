"""Feasibility rules. Each rejection is a reason with the numbers, and adds to a normalised violation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.selection.figures import Figures
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["HARD", "Verdict", "check", "joules_text"]

#: Violation added by a rule that no budget change can fix (cannot run there, rolled back).
HARD = 10.0


@dataclass(frozen=True, slots=True)
class Verdict:
    reasons: tuple[str, ...]
    violation: float
    #: False when the variant cannot run on the profile at all.
    runnable: bool
    #: The reasons no budget change can fix (rolled back there, cannot run there, no accuracy figure).
    hard: tuple[str, ...] = ()


def _b(n: float) -> str:
    return f"{int(n)} B"


def joules_text(j: float) -> str:
    return f"{j * 1e3:.3g} mJ" if j >= 1e-3 else f"{j * 1e6:.3g} µJ"


def _s(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def _over(value: float, limit: float) -> float:
    return max(0.0, (value - limit) / limit) if limit > 0 else HARD


def check(card: VariantCard, figures: Figures, profile: Profile, *, blocked_reason: str | None) -> Verdict:
    facts, hw, budgets = card.facts, profile.hardware, profile.budgets
    hard: list[str] = []
    soft: list[tuple[str, float]] = []
    if blocked_reason is not None:
        hard.append(f"rolled back: {blocked_reason}")
    if profile.runtime == "tflite-micro":
        if facts.hybrid:
            hard.append("hybrid: TFLite Micro cannot run it")
        elif facts.tflm_arena is None:
            hard.append(f"TFLite Micro refuses it: {facts.tflm_refusal}")
    if profile.full_integer_only and not facts.full_integer:
        what = "float activations" if facts.hybrid else f"{facts.compute_dtype} compute"
        hard.append(f"not full-integer ({what}): {profile.name} runs full-integer models only")

    def exceeds(what: str, value: float, limit_name: str, limit: float, fmt: Callable[[float], str]) -> None:
        if limit and value > limit:
            soft.append((f"{what} {fmt(value)} > {limit_name} {fmt(limit)}", _over(value, limit)))

    if facts.tflm_arena is not None:
        exceeds("tflm arena", facts.tflm_arena.total, "sram", hw.sram_bytes, _b)
    exceeds("model", facts.size_bytes, "flash", hw.flash_bytes, _b)
    if figures.accuracy is None:
        hard.append(
            "no accuracy figure: the family has no evaluation set, so accuracy cannot be judged; "
            "register the variant with one (edgefleet variants add FILE --model NAME --eval FILE)"
        )
    else:
        if figures.accuracy < budgets.accuracy_floor:
            gap = (budgets.accuracy_floor - figures.accuracy) / budgets.accuracy_floor
            soft.append((f"accuracy {figures.accuracy:.2%} < floor {budgets.accuracy_floor:.2%}", gap))
        if figures.base_accuracy is not None:
            drop = figures.base_accuracy - figures.accuracy
            if drop > budgets.max_accuracy_drop + 1e-12:
                reason = (
                    f"accuracy drop {drop * 100:.2f} pp vs fp32 base ({figures.base_accuracy:.2%}) "
                    f"> {budgets.max_accuracy_drop * 100:.2f} pp"
                )
                soft.append(
                    (reason, (drop - budgets.max_accuracy_drop) / max(budgets.max_accuracy_drop, 1e-3))
                )
    exceeds("energy", figures.energy_j, "budget", budgets.max_energy_joules, joules_text)
    exceeds("latency p95", figures.latency_p95_s, "budget", budgets.max_latency_p95_seconds, _s)
    exceeds("size", figures.size_bytes, "max", budgets.max_model_bytes, _b)
    exceeds("peak memory", figures.peak_memory_bytes, "max", budgets.max_peak_memory_bytes, _b)
    runnable = not any(r.startswith(("hybrid", "TFLite Micro", "not full-integer")) for r in hard)
    return Verdict(
        reasons=tuple(hard) + tuple(r for r, _ in soft),
        violation=HARD * len(hard) + sum(v for _, v in soft),
        runnable=runnable,
        hard=tuple(hard),
    )
