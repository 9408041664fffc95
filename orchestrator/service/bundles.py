"""Variant bundles: the signed artifact a device downloads (model + self-test samples + manifest)."""

from __future__ import annotations

from edgefleet.agent.runtime import load_model
from edgefleet.core.bundle import Manifest, write_bundle
from edgefleet.orchestrator.fleet.model import BundleRecord
from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from edgefleet.orchestrator.registry.signing import Signer
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store

__all__ = ["MIN_AGREEMENT", "BundleService"]

#: Share of self-test predictions that must agree with the host's (runtimes may differ on a few).
MIN_AGREEMENT = 0.9


class BundleService:
    def __init__(
        self, *, store: Store, artifacts: ArtifactStore, signer: Signer, variants: VariantService
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._signer = signer
        self._variants = variants

    def ensure(self, variant_id: str) -> BundleRecord:
        """The variant's bundle, built and signed on first use (deterministic: same inputs, same digest)."""
        existing = self._store.get_bundle(variant_id)
        if existing is not None and self._artifacts.exists(existing.sha256):
            return existing
        card = self._variants.get(variant_id)
        model = self._artifacts.read(card.variant_id)
        # the family's scoring split, all of it: the self-test, the canary and device accuracy use these
        samples = self._variants.scoring_set(card.model)
        expected = load_model(model, source=card.short_id).classify(samples.x)
        manifest = Manifest(
            variant_id=card.variant_id,
            model=card.model,
            recipe=card.recipe,
            base_name=card.base_name,
            labels=samples.labels,
            expected_classes=tuple(int(c) for c in expected),
            min_agreement=MIN_AGREEMENT,
            ops_energy_joules=card.ops_energy.total_j,
        )
        data = write_bundle(manifest, model, samples)
        digest = self._artifacts.put(data)
        record = BundleRecord(
            card.variant_id, digest, len(data), self._signer.sign_digest(digest), self._signer.public.key_id
        )
        if existing is not None:
            return existing if existing.sha256 == digest else record
        return self._store.put_bundle(record)
