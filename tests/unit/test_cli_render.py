"""How the CLI words things (issue 17 items 8 and 9): plurals, readable nested fields and hardware, and a
decision's statistics with the bound it was judged by (the critical 99.9 % one included)."""

from __future__ import annotations

import time

from edgefleet.orchestrator.cli.output import plural, table
from edgefleet.orchestrator.cli.render import field_rows, fmt_hardware
from edgefleet.orchestrator.cli.statistics import fmt_statistics
from edgefleet.orchestrator.rollout.analysis import accuracy_verdict, log_bound_verdict


def test_plural() -> None:
    assert [plural(n, "event") for n in (0, 1, 2)] == ["0 events", "1 event", "2 events"]
    assert plural(1, "benchmark job") == "1 benchmark job"
    assert plural(3, "child", "children") == "3 children"


def test_nested_fields_are_rows_not_reprs() -> None:
    now = time.time()
    rows = dict(
        field_rows(
            {"host": {"accuracy": 0.5, "threads": 1}, "ops": ["CONV_2D", "FC"], "tflm": None, "created": now},
            times=frozenset({"created"}),
        )
    )
    assert rows["host.accuracy"] == "0.5"
    assert rows["host.threads"] == "1"
    assert rows["ops"] == "CONV_2D, FC"
    assert rows["tflm"] == "-"
    assert rows["created"].endswith("(0 s ago)")
    assert not any("{" in v or "[" in v for v in rows.values())


def test_hardware_sizes_are_readable() -> None:
    shown = fmt_hardware(
        {"cpu_count": 2, "memory_bytes": 25276514304, "storage_bytes": "1024", "machine": "x"}
    )
    assert shown == "cpu count 2, memory 23.5 GiB, storage 1.0 KiB, machine x"
    assert fmt_hardware({}) == "-"


def test_empty_cells_are_a_dash_and_cells_are_never_markup() -> None:
    t = table("t", ["a", "b"], [("", "[b]x[/b] :x:")])
    cells = [c for col in t.columns for c in col.cells]
    assert [str(c) for c in cells] == ["-", "[b]x[/b] :x:"]


def test_a_critical_energy_breach_shows_the_99_9_bound() -> None:
    v = log_bound_verdict("energy", [5e-3, 5.1e-3, 4.9e-3, 5.05e-3, 4.95e-3], 1e-3)
    assert v.critical
    assert {"t_critical", "lcb_critical", "critical_limit"} <= set(v.stats)
    assert v.stats["critical_limit"] == 2e-3
    text = fmt_statistics(v.rule, v.stats, critical=True)
    assert "95% interval [" in text
    assert "vs budget 1.00 mJ" in text
    assert "99.9% lower bound 4." in text
    assert text.endswith("> critical limit 2.00 mJ (critical)")


def test_a_breach_short_of_critical_says_so() -> None:
    v = log_bound_verdict("latency", [1.2e-3, 1.25e-3, 1.15e-3, 1.22e-3, 1.18e-3], 1e-3)
    assert (v.status, v.critical) == ("FAIL", False)
    text = fmt_statistics(v.rule, v.stats, critical=False)
    assert "vs budget 1.00 ms" in text
    assert "<= critical limit 2.00 ms" in text
    assert "(critical)" not in text


def test_a_critical_accuracy_breach_shows_the_99_9_bound() -> None:
    v = accuracy_verdict(120, 200, 0.93)
    assert v.critical
    text = fmt_statistics(v.rule, v.stats, critical=True)
    assert text == (
        "accuracy 60.0% (120 of 200); 95% interval [54.2%, 65.5%] vs floor 93.0%; "
        f"99.9% upper bound {v.stats['upper_critical']:.1%} < 88.0% (critical)"
    )


def test_other_statistics_and_none() -> None:
    assert fmt_statistics("deploy.manual", None) == "-"
    assert fmt_statistics("deploy.manual", {}) == "-"
    assert fmt_statistics("energy.fewer_than_k_windows", {"k": 5, "have": 2}) == "k 5, have 2"
    saving = {
        "candidate_j": 1e-3,
        "incumbent_j": 2e-3,
        "saving": 0.5,
        "saving_lower": 0.4,
        "saving_upper": 0.6,
        "min_saving": 0.05,
    }
    assert fmt_statistics("energy.saving_vs_incumbent", saving).startswith(
        "saving 50% [40%, 60%] (1.00 mJ vs"
    )
