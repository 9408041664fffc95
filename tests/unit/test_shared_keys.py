"""Replicas starting together on one shared keys directory end up with one signing key, not one each."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgefleet.orchestrator.registry.signing import Signer


def test_replicas_creating_the_signing_key_together_share_one(tmp_path: Path) -> None:
    for round_ in range(10):
        keys = tmp_path / f"keys{round_}"
        barrier = threading.Barrier(6)

        def start(_: int, keys: Path = keys, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return Signer.load_or_create(keys).public.key_id

        with ThreadPoolExecutor(6) as pool:
            ids = set(pool.map(start, range(6)))
        assert len(ids) == 1
        assert [k.key_id for k in Signer.trusted(keys)] == list(ids)
        assert {p.name for p in keys.iterdir()} == {"signing.key", f"signing-{ids.pop()}.pub"}
