from __future__ import annotations

from pathlib import Path

import pytest

from agent.evalset import EvalSet, load_eval_set
from orchestrator.reference import ReferenceFamily, reference_family

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def family() -> ReferenceFamily:
    return reference_family()


@pytest.fixture(scope="session")
def evalset(family: ReferenceFamily) -> EvalSet:
    return load_eval_set(family.eval_path)
