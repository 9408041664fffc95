"""Which runtime the wrapper picks, controlled by what can be imported."""

from __future__ import annotations

import sys

import pytest

from edgefleet.agent.runtime import litert
from edgefleet.core.errors import RuntimeUnavailable


def test_litert_is_preferred_when_present() -> None:
    assert litert.import_interpreter().info.name == "ai-edge-litert"


def test_no_runtime_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import raise ImportError.
    for name in (
        "ai_edge_litert",
        "ai_edge_litert.interpreter",
        "tflite_runtime",
        "tflite_runtime.interpreter",
    ):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(RuntimeUnavailable, match="no LiteRT runtime is installed") as info:
        litert.import_interpreter()
    assert "ai_edge_litert.interpreter" in info.value.message
    assert "tflite_runtime.interpreter" in info.value.message
