"""Variant registry: build, analyse, evaluate, sign and store variants of a model family."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgefleet.core.errors import FailedPrecondition, InvalidArgument, NotFound
from edgefleet.core.evalset import EvalSet, load_eval_set
from edgefleet.orchestrator.registry.artifacts import ArtifactStore, sha256_hex
from edgefleet.orchestrator.registry.signing import Signer
from edgefleet.orchestrator.service.names import check_name
from edgefleet.orchestrator.store.base import Family, Store
from edgefleet.orchestrator.variants.analyser import StaticFacts, analyse
from edgefleet.orchestrator.variants.builder import (
    Built,
    RecipeNotApplicable,
    Skipped,
    build_variant,
    check_float_base,
)
from edgefleet.orchestrator.variants.card import PruningRecord, VariantCard, ops_energy_of
from edgefleet.orchestrator.variants.evaluator import check_eval_matches, evaluate, input_sample_shape
from edgefleet.orchestrator.variants.recipes import resolve_recipes

__all__ = ["BuildRequest", "BuildResult", "Progress", "VariantService"]


@dataclass(frozen=True, slots=True)
class BuildRequest:
    model: str
    base: bytes
    #: Empty: the family's evaluation set, or none for a new family (no accuracy, no calibrated recipes).
    eval_npz: bytes
    base_name: str
    recipes: tuple[str, ...] = ()
    threads: int = 1
    base_source: str = "base.tflite"
    eval_source: str = "eval.npz"
    #: How the base was pruned (``variants build --prune``); recorded on every card built from it.
    pruning: PruningRecord | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    stage: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class BuildResult:
    variants: tuple[VariantCard, ...]
    skipped: tuple[Skipped, ...]


class VariantService:
    def __init__(
        self,
        *,
        store: Store,
        artifacts: ArtifactStore,
        signer: Signer,
        clock: Callable[[], float] = time.time,
        latency_runs: int = 200,
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._signer = signer
        self._clock = clock
        self._latency_runs = latency_runs

    # ---- queries ----
    def list_families(self) -> list[Family]:
        return list(self._store.list_families())

    def list_variants(self, model: str = "") -> list[VariantCard]:
        return list(self._store.list_variants(model))

    def get(self, id_or_prefix: str) -> VariantCard:
        key = id_or_prefix.strip().lower()
        if len(key) < 8 or any(c not in "0123456789abcdef" for c in key):
            raise InvalidArgument(f"variant id must be at least 8 hex digits, got {id_or_prefix[:80]!r}")
        found = self._store.find_variants(key)
        if not found:
            raise NotFound(f"no variant {key}")
        if len(found) > 1:
            raise InvalidArgument(f"variant prefix {key} is ambiguous: {[c.short_id for c in found]}")
        return found[0]

    def family(self, model: str) -> Family:
        family = self._store.get_family(check_name("model", model))
        if family is None:
            raise NotFound(f"no model family {model!r}")
        return family

    def family_eval(self, model: str) -> EvalSet:
        family = self.family(model)
        if not family.eval_sha256:
            raise FailedPrecondition(
                f"model {model!r} was registered without an evaluation set (--eval FILE): "
                "it has no labelled samples"
            )
        return load_eval_set(self._artifacts.read(family.eval_sha256), source=f"{model} evaluation set")

    def scoring_set(self, model: str) -> EvalSet:
        """The family's scoring split: what host accuracy, bundles and device accuracy all use."""
        return self.family_eval(model).split().scoring

    def artifact(self, digest: str) -> bytes:
        return self._artifacts.read(digest)

    # ---- commands ----
    def build(self, req: BuildRequest, progress: Callable[[Progress], None] | None = None) -> BuildResult:
        """Build every recipe, then register all variants in one transaction (nothing half-written)."""
        report = progress or (lambda _p: None)
        check_name("model", req.model)
        check_name("base name", req.base_name)
        recipes = resolve_recipes(req.recipes)
        eval_npz, evalset = self._eval_for(req.model, req.eval_npz, req.eval_source)
        base_facts = analyse(req.base, source=req.base_source)  # parse; runtimes in an isolated process
        shape = self._check_fits(req.model, req.base, evalset, source=req.base_source)
        check_float_base(req.base, source=req.base_source)
        built: list[tuple[VariantCard, bytes]] = []
        skipped: list[Skipped] = []
        split = evalset.split() if evalset is not None else None
        calibration = split.calibration if split is not None else None
        scoring = split.scoring if split is not None else None
        for done, recipe in enumerate(recipes):
            report(Progress(f"{req.base_name}: {recipe.name}", done, len(recipes)))
            try:
                variant = build_variant(recipe, req.base, calibration, threads=req.threads)
                known = base_facts if variant.data == req.base else None  # float32: the base itself
                card = self._card(
                    req.model, req.base_name, variant, scoring, req.threads, facts=known, pruning=req.pruning
                )
                built.append((card, variant.data))
            except RecipeNotApplicable as exc:
                skipped.append(Skipped(recipe.name, str(exc)))
        report(Progress(f"{req.base_name}: registering", len(recipes), len(recipes)))
        stored = self._register(req.model, eval_npz, evalset, shape, built)
        return BuildResult(tuple(stored), tuple(skipped))

    def add(
        self,
        *,
        model: str,
        data: bytes,
        recipe: str = "user",
        eval_npz: bytes = b"",
        source: str = "model.tflite",
        eval_source: str = "the evaluation set",
    ) -> VariantCard:
        """Register a user's own .tflite (any dtype) as a variant of ``model``. Without ``eval_npz`` the
        family's evaluation set is used; a new family without one gets none (the card's accuracy is
        unknown, and plans say so)."""
        check_name("model", model)
        check_name("recipe", recipe)
        eval_npz, evalset = self._eval_for(model, eval_npz, eval_source)
        facts = analyse(data, source=source)  # parse, then the runtimes in an isolated process
        shape = self._check_fits(model, data, evalset, source=source)
        try:
            scoring = evalset.split().scoring if evalset is not None else None
            card = self._card(
                model, "user", Built(recipe, data), scoring, threads=1, source=source, facts=facts
            )
        except RecipeNotApplicable as exc:
            raise InvalidArgument(f"{source}: {exc}") from exc
        return self._register(model, eval_npz, evalset, shape, [(card, data)])[0]

    # ---- internals ----
    def _card(
        self,
        model: str,
        base_name: str,
        built: Built,
        evalset: EvalSet | None,
        threads: int,
        source: str = "",
        facts: StaticFacts | None = None,
        pruning: PruningRecord | None = None,
    ) -> VariantCard:
        """``facts``: the analysis of these very bytes when the caller already has it."""
        where = source or f"{base_name}/{built.recipe}"
        try:
            facts = facts or analyse(built.data, source=where)
            host = evaluate(
                built.data, evalset, threads=threads, latency_runs=self._latency_runs, source=where
            )
        except InvalidArgument as exc:
            raise RecipeNotApplicable(f"the variant does not load: {exc.message}") from exc
        digest = sha256_hex(built.data)
        return VariantCard(
            variant_id=digest,
            model=model,
            recipe=built.recipe,
            base_name=base_name,
            facts=facts,
            host=host,
            ops_energy=ops_energy_of(facts),
            signature=self._signer.sign_digest(digest),
            signing_key_id=self._signer.public.key_id,
            created=self._clock(),
            notes=built.notes,
            pruning=pruning,
        )

    def _eval_for(self, model: str, eval_npz: bytes, source: str) -> tuple[bytes, EvalSet | None]:
        """The evaluation set to use: the one given (checked against the family's), else the family's,
        else none (a new family registered without one)."""
        family = self._store.get_family(model)
        if eval_npz:
            evalset = load_eval_set(eval_npz, source=source)
            if family is not None:
                self._check_family(family, eval_npz, evalset)
            return eval_npz, evalset
        if family is not None and family.eval_sha256:
            npz = self._artifacts.read(family.eval_sha256)
            return npz, load_eval_set(npz, source=f"{model} evaluation set")
        return b"", None

    @staticmethod
    def _check_family(family: Family, eval_npz: bytes, evalset: EvalSet) -> None:
        model = family.model
        if not family.eval_sha256:
            raise InvalidArgument(
                f"model {model!r} was registered without an evaluation set, so its variants have no "
                "accuracy to compare with; register under a new model name with --eval FILE, "
                "or leave out --eval"
            )
        if family.eval_sha256 != sha256_hex(eval_npz):
            raise InvalidArgument(
                f"model {model!r} was registered with another evaluation set "
                f"(sha256 {family.eval_sha256[:12]}); use the same set so accuracies stay comparable, "
                "or a new model name"
            )
        if family.sample_shape != evalset.sample_shape:
            raise InvalidArgument(f"model {model!r} takes samples of shape {list(family.sample_shape)}")

    def _check_fits(
        self, model: str, data: bytes, evalset: EvalSet | None, *, source: str
    ) -> tuple[int, ...]:
        """The model takes the family's samples (and, with an evaluation set, classifies its classes);
        returns the sample shape."""
        if evalset is not None:
            check_eval_matches(data, evalset, source=source)
            return evalset.sample_shape
        shape = input_sample_shape(data, source=source)
        family = self._store.get_family(model)
        if family is not None and family.sample_shape != shape:
            raise InvalidArgument(
                f"{source} takes samples of shape {list(shape)} but model {model!r} takes "
                f"{list(family.sample_shape)}"
            )
        return shape

    def _register(
        self,
        model: str,
        eval_npz: bytes,
        evalset: EvalSet | None,
        sample_shape: tuple[int, ...],
        built: Sequence[tuple[VariantCard, bytes]],
    ) -> list[VariantCard]:
        """Blobs first (atomic renames, content-addressed), then the cards in one transaction. Nothing
        built: nothing written (no family without a variant)."""
        if not built:
            return []
        eval_digest = self._artifacts.put(eval_npz) if evalset is not None else ""
        unique: dict[str, VariantCard] = {}
        for card, data in built:
            if card.variant_id not in unique:  # two recipes can yield identical bytes
                self._artifacts.put(data)
                unique[card.variant_id] = card
        labels = evalset.labels if evalset is not None else ()
        self._store.put_family(Family(model, eval_digest, labels, sample_shape, self._clock()))
        return self._store.put_variants(list(unique.values()))
