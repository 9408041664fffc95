"""How domain objects look to people (tables) and scripts (JSON dicts)."""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = [
    "CARD_COLUMNS",
    "card_dict",
    "card_row",
    "field_rows",
    "fmt_bytes",
    "fmt_energy",
    "fmt_hardware",
    "fmt_seconds",
    "fmt_when",
]


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def fmt_seconds(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def fmt_energy(j: float) -> str:
    if j >= 1e-3:
        return f"{j * 1e3:.2f} mJ"
    return f"{j * 1e6:.3f} µJ"


CARD_COLUMNS = (
    "variant",
    "model",
    "base",
    "recipe",
    "bytes",
    "MACs",
    "peak mem",
    "TFLM arena",
    "accuracy",
    "p50",
    "energy (ops est.)",
)


def card_row(card: VariantCard) -> tuple[str, ...]:
    f, h = card.facts, card.host
    if f.tflm_arena is not None:
        tflm = fmt_bytes(f.tflm_arena.total)
    else:
        tflm = "refused: " + (f.tflm_refusal.split(" | ")[0].split(" ", 1)[-1][:48] or "?")
    return (
        card.short_id,
        card.model,
        card.base_name,
        card.recipe + (" (hybrid)" if f.hybrid else ""),
        str(f.size_bytes),
        f"{f.total_macs:,}",
        fmt_bytes(f.peak_activation_bytes),
        tflm,
        "-" if h.accuracy is None else f"{h.accuracy:.2%}",
        fmt_seconds(h.latency_p50_s),
        fmt_energy(card.ops_energy.total_j),
    )


def card_dict(card: VariantCard) -> dict[str, Any]:
    f, h, e = card.facts, card.host, card.ops_energy
    return {
        "variant_id": card.variant_id,
        "model": card.model,
        "base_name": card.base_name,
        "recipe": card.recipe,
        "size_bytes": f.size_bytes,
        "parameters": f.parameters,
        "weight_bytes": f.weight_bytes,
        "macs": f.macs,
        "total_macs": f.total_macs,
        "ops": list(f.ops),
        "tensor_dtypes": f.tensor_dtypes,
        "hybrid": f.hybrid,
        "full_integer": f.full_integer,
        "has_signature": f.has_signature,
        "compute_dtype": f.compute_dtype,
        "peak_activation_bytes": f.peak_activation_bytes,
        "max_live_bytes": f.max_live_bytes,
        "tflm_arena": None
        if f.tflm_arena is None
        else {"total": f.tflm_arena.total, "head": f.tflm_arena.head, "tail": f.tflm_arena.tail},
        "tflm_refusal": f.tflm_refusal or None,
        "host": {
            "accuracy": h.accuracy,
            "samples": h.samples,
            "latency_p50_seconds": h.latency_p50_s,
            "latency_p95_seconds": h.latency_p95_s,
            "threads": h.threads,
            "runtime": h.runtime,
        },
        "energy_estimate": {
            "method": "estimate:ops (Horowitz 45 nm, lower bound)",
            "joules_per_inference": e.total_j,
            "compute_joules": e.compute_j,
            "weights_joules": e.weights_j,
            "activations_joules": e.activations_j,
        },
        "sha256": card.sha256,
        "signature": card.signature.hex(),
        "signing_key_id": card.signing_key_id,
        "created": card.created,
        "notes": list(card.notes),
        "pruning": None if card.pruning is None else dataclasses.asdict(card.pruning),
    }


WINDOW_COLUMNS = ("seq", "variant", "inferences", "energy/inference", "method", "p95", "accuracy", "flags")


def window_row(w: WindowRecord) -> tuple[str, ...]:
    energy = "-" if w.gross_j is None else fmt_energy(w.gross_j)
    if w.dynamic_j is not None:
        energy += f" (dyn {fmt_energy(w.dynamic_j)})"
    return (
        str(w.seq),
        f"{w.variant_id[:12]} {w.recipe}",
        str(w.inferences),
        energy,
        f"{w.energy_method} [{w.energy_kind}]" if w.energy_method else "-",
        fmt_seconds(w.latency_p95_s),
        f"{w.correct}/{w.labelled}" if w.labelled else "-",
        "; ".join(w.flags) or "",
    )


def fmt_when(t: float | None) -> str:
    """A moment people can read: local date and time, and how long ago ("never" when unknown)."""
    if not t:
        return "never"
    stamp = datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")
    ago = max(0.0, time.time() - t)
    rel = f"{ago:.0f} s" if ago < 120 else f"{ago / 60:.0f} min" if ago < 7200 else f"{ago / 3600:.1f} h"
    return f"{stamp} ({rel} ago)"


def fmt_hardware(facts: dict[str, Any]) -> str:
    """A device's hardware facts in one line: sizes in bytes as KiB/MiB/GiB, the rest as said."""
    shown = []
    for key, value in facts.items():
        if key.endswith("_bytes") and isinstance(value, int | float | str) and str(value).isdigit():
            shown.append(f"{key.removesuffix('_bytes').replace('_', ' ')} {fmt_bytes(int(value))}")
        else:
            shown.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(shown) or "-"


def _scalar(key: str, value: Any, times: frozenset[str]) -> str:
    if value is None or value == "":
        return "-"
    if key in times and isinstance(value, int | float):
        return fmt_when(float(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def field_rows(
    data: dict[str, Any], *, times: frozenset[str] = frozenset(), prefix: str = ""
) -> list[tuple[str, str]]:
    """(field, value) rows for a nested dict: nested dicts become ``parent.child`` rows, lists of scalars
    one comma-separated value, lists of dicts one row each; ``times`` (keys) are epoch seconds shown as
    readable moments. Never a Python repr."""
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += field_rows(value, times=times, prefix=f"{name}.") if value else [(name, "-")]
        elif isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                rows += field_rows(item, times=times, prefix=f"{name}[{i}].")
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(_scalar(key, v, times) for v in value) or "-"))
        else:
            rows.append((name, _scalar(key, value, times)))
    return rows
