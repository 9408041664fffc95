"""Build, analyse, evaluate, sign and register variants: the reference family and bad input."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgefleet.agent.runtime import load_model
from edgefleet.core.errors import FailedPrecondition, InvalidArgument, ModelLoadError
from edgefleet.core.trust import verify_digest
from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.orchestrator.registry.artifacts import sha256_hex
from edgefleet.orchestrator.registry.signing import Signer
from edgefleet.orchestrator.service.variants import BuildRequest, BuildResult, Progress, VariantService
from edgefleet.orchestrator.variants.opcodes import NORMALISED_NOTE
from edgefleet.orchestrator.variants.signatures import strip_signatures
from tests.helpers.services import object_count, variant_service
from tests.helpers.tflite_builder import autoencoder_model, conv_fc_model, depthwise_only_model


def build_request(family: ReferenceFamily, index: int, **kw: object) -> BuildRequest:
    ref = family.models[index]
    args: dict[str, object] = {
        "model": "digits",
        "base": ref.path.read_bytes(),
        "eval_npz": family.eval_path.read_bytes(),
        "base_name": ref.name.split("_")[1],
        "base_source": ref.path.name,
        "eval_source": family.eval_path.name,
    }
    args.update(kw)
    return BuildRequest(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, family: ReferenceFamily
) -> tuple[VariantService, Path, list[BuildResult]]:
    root = tmp_path_factory.mktemp("registry")
    service = variant_service(root)
    results = [service.build(build_request(family, i)) for i in range(len(family.models))]
    return service, root, results


def test_reference_family_yields_a_grid_of_variants(built, evalset) -> None:  # type: ignore[no-untyped-def]
    service, root, results = built
    public = Signer.load_or_create(root / "keys").public.raw
    cards = service.list_variants("digits")
    assert len(cards) == 18  # 6 recipes x 3 widths
    assert Counter(c.base_name for c in cards) == {"w0.5": 6, "w1.0": 6, "w2.0": 6}
    assert all(not r.skipped for r in results)
    assert len({c.recipe for c in cards}) >= 5
    for card in cards:
        data = service.artifact(card.variant_id)
        assert sha256_hex(data) == card.variant_id
        assert verify_digest(public, card.variant_id, card.signature)
        model = load_model(data)  # every variant loads and runs
        assert model.classify(evalset.x[:4]).shape == (4,)
        assert card.host.accuracy is not None
        assert card.host.accuracy > 0.75, (card.base_name, card.recipe)
        assert 0 < card.host.latency_p50_s <= card.host.latency_p95_s
        assert card.ops_energy.total_j > 0


def test_full_integer_variants_run_under_tflm_and_hybrids_are_refused(built) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = built
    cards = service.list_variants("digits")
    full_int = [c for c in cards if c.recipe == "static_wi8_ai8"]
    assert len(full_int) == 3
    for card in full_int:
        assert card.facts.full_integer
        assert card.facts.tflm_arena is not None
        assert card.facts.tflm_arena.total > 0
        assert card.facts.tensor_dtypes.get("float32", 0) == 0
        model = load_model(service.artifact(card.variant_id))
        assert model.input.dtype == "int8"
        assert model.output.dtype == "int8"
    # Weight-only int8 runs under TFLM; the w2.0 one needs more arena than the first guess (grown).
    for card in (c for c in cards if c.recipe == "weight_only_wi8_afp32"):
        assert card.facts.tflm_arena is not None, card.facts.tflm_refusal
    hybrids = [c for c in cards if c.facts.hybrid]
    assert {c.recipe for c in hybrids} == {"dynamic_wi8_afp32", "dynamic_wi4_afp32"}
    for card in hybrids:
        assert card.facts.tflm_arena is None
        assert "Hybrid models are not supported on TFLite Micro" in card.facts.tflm_refusal


def test_compressed_variants_estimate_less_energy_than_their_base(built) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = built
    cards = service.list_variants("digits")
    for width in ("w0.5", "w1.0", "w2.0"):
        by_recipe = {c.recipe: c for c in cards if c.base_name == width}
        base = by_recipe["fp32"].ops_energy.total_j
        assert by_recipe["static_wi8_ai8"].ops_energy.total_j < base / 3
        assert by_recipe["dynamic_wi8_afp32"].ops_energy.total_j < base / 3
        assert by_recipe["fp16"].facts.size_bytes < by_recipe["fp32"].facts.size_bytes


def test_rebuilding_is_idempotent(built, family: ReferenceFamily) -> None:  # type: ignore[no-untyped-def]
    service, root, results = built
    before = {c.variant_id: c.created for c in service.list_variants()}
    objects = object_count(root)
    again = service.build(build_request(family, 0))
    assert {c.variant_id for c in again.variants} == {c.variant_id for c in results[0].variants}
    assert {c.variant_id: c.created for c in service.list_variants()} == before
    assert object_count(root) == objects
    card = results[0].variants[0]
    added = service.add(model="digits", data=service.artifact(card.variant_id), recipe="mine")
    assert added.variant_id == card.variant_id
    assert added.recipe == card.recipe  # the stored card wins


def test_get_by_prefix(built) -> None:  # type: ignore[no-untyped-def]
    service, _, results = built
    card = results[1].variants[2]
    assert service.get(card.variant_id[:12]).variant_id == card.variant_id
    with pytest.raises(InvalidArgument, match="at least 8 hex digits"):
        service.get("abc")


def test_signature_less_base_builds_every_recipe(tmp_path: Path, family: ReferenceFamily) -> None:
    service = variant_service(tmp_path)
    bare = strip_signatures(family.models[0].path.read_bytes())
    result = service.build(
        build_request(family, 0, base=bare, recipes=("static_wi8_ai8", "dynamic_wi8_afp32", "fp16"))
    )
    assert not result.skipped
    static = next(c for c in result.variants if c.recipe == "static_wi8_ai8")
    assert any("no SignatureDef" in note for note in static.notes)
    assert static.facts.full_integer
    assert static.host.accuracy is not None
    assert static.host.accuracy > 0.85


def test_a_recipe_that_does_not_apply_is_skipped_with_its_reason(tmp_path: Path) -> None:
    service = variant_service(tmp_path)
    progress: list[Progress] = []
    result = service.build(
        BuildRequest(
            model="dw",
            base=depthwise_only_model(),  # not a classifier: registered without an evaluation set
            eval_npz=b"",
            base_name="b",
            recipes=("fp32", "dynamic_wi4_afp32"),
        ),
        progress=progress.append,
    )
    assert [c.recipe for c in result.variants] == ["fp32"]
    assert [(s.recipe, s.reason) for s in result.skipped] == [
        ("dynamic_wi4_afp32", "the recipe quantized no tensor of this model (no supported op)")
    ]
    assert [p.done for p in progress] == [0, 1, 2]


def test_a_new_family_without_an_evaluation_set(tmp_path: Path) -> None:
    """Issue 15 item 19: `variants add` for a new family without --eval said not_found. Now the family is
    created without a set, the card has no accuracy, calibrated recipes say which option is missing."""
    service = variant_service(tmp_path)
    card = service.add(model="fresh", data=conv_fc_model(), source="mine.tflite")
    assert card.host.accuracy is None
    assert card.host.samples == 0
    assert card.host.latency_p50_s > 0
    family = service.family("fresh")
    assert (family.eval_sha256, family.labels, family.sample_shape) == ("", (), (4, 4, 2))
    assert object_count(tmp_path) == 1  # the model; no evaluation set stored
    with pytest.raises(FailedPrecondition, match="registered without an evaluation set"):
        service.family_eval("fresh")
    # building into it: uncalibrated recipes build, the calibrated one names the missing option
    result = service.build(
        BuildRequest(
            model="fresh",
            base=conv_fc_model(),
            eval_npz=b"",
            base_name="b",
            recipes=("dynamic_wi8_afp32", "static_wi8_ai8"),
        )
    )
    assert [c.recipe for c in result.variants] == ["dynamic_wi8_afp32"]
    assert result.variants[0].host.accuracy is None
    assert [s.recipe for s in result.skipped] == ["static_wi8_ai8"]
    assert "--eval FILE" in result.skipped[0].reason
    # a set given later cannot be compared with the accuracies the family lacks: refused, named
    eval_npz = _npz(np.zeros((5, 4, 4, 2), np.float32), [0, 1, 2, 3, 4])
    with pytest.raises(InvalidArgument, match=r"registered without an evaluation set.*--eval FILE"):
        service.add(model="fresh", data=conv_fc_model(), eval_npz=eval_npz)
    # a model taking other samples is not a variant of it
    with pytest.raises(InvalidArgument, match="takes samples of shape \\[640\\] but model 'fresh' takes"):
        service.add(model="fresh", data=autoencoder_model(), source="ae.tflite")


def test_a_build_whose_every_recipe_is_skipped_writes_nothing(tmp_path: Path) -> None:
    service = variant_service(tmp_path)
    result = service.build(
        BuildRequest(
            model="none", base=conv_fc_model(), eval_npz=b"", base_name="b", recipes=("static_wi8_ai8",)
        )
    )
    assert result.variants == ()
    assert [s.recipe for s in result.skipped] == ["static_wi8_ai8"]
    assert service.list_families() == []
    assert object_count(tmp_path) == 0


@pytest.mark.parametrize("how", ["add", "build"])
def test_a_non_classifier_is_refused_and_nothing_is_written(tmp_path: Path, how: str) -> None:
    """An autoencoder's 640 reconstructed values were scored by argmax as if they were 640 classes."""
    service = variant_service(tmp_path)
    rng = np.random.default_rng(0)
    eval_npz = _npz(rng.random((20, 640), dtype=np.float32), [i % 2 for i in range(20)])  # normal/anomalous
    model = autoencoder_model()
    expected = (
        "ae.tflite outputs 640 values per sample \\(shape \\[640\\]\\), not one score for each of the 2 "
        "classes of eval.npz: edgefleet evaluates classifiers only \\(accuracy = argmax of the scores\\)"
    )
    request = BuildRequest(
        model="ae",
        base=model,
        eval_npz=eval_npz,
        base_name="b",
        base_source="ae.tflite",
        eval_source="eval.npz",
    )

    def attempt() -> object:
        if how == "add":
            return service.add(
                model="ae", data=model, eval_npz=eval_npz, source="ae.tflite", eval_source="eval.npz"
            )
        return service.build(request)

    with pytest.raises(InvalidArgument, match=expected):
        attempt()
    assert service.list_families() == []
    assert service.list_variants() == []
    assert object_count(tmp_path) == 0


def test_a_classifier_whose_set_lacks_a_class_is_accepted_when_the_labels_name_it(tmp_path: Path) -> None:
    service = variant_service(tmp_path)
    x = np.zeros((4, 4, 4, 2), np.float32)
    partial = _npz(x, [0, 1, 2, 3])  # five outputs, four classes seen, none named: refused with the hint
    with pytest.raises(InvalidArgument, match="if some classes have no sample, name them all in 'labels'"):
        service.add(model="c", data=conv_fc_model(), eval_npz=partial)
    buf = io.BytesIO()
    np.savez(buf, x=x, y=np.array([0, 1, 2, 3]), labels=np.array(["a", "b", "c", "d", "e"]))
    card = service.add(model="c", data=conv_fc_model(), eval_npz=buf.getvalue())
    assert card.host.samples == 4


def test_a_base_with_only_deprecated_operator_codes_quantizes(tmp_path: Path) -> None:
    """Older converters' output (e.g. MLPerf Tiny's anomaly detector): ai-edge-quantizer read ADD for every
    op and quantized nothing ("no supported op") until the codes were normalised."""
    service = variant_service(tmp_path)
    rng = np.random.default_rng(0)
    eval_npz = _npz(rng.random((40, 4, 4, 2), dtype=np.float32), [i % 5 for i in range(40)])
    recipes = ("fp32", "fp16", "dynamic_wi8_afp32", "weight_only_wi8_afp32", "static_wi8_ai8")
    result = service.build(
        BuildRequest(
            model="legacy",
            base=conv_fc_model(legacy_opcodes=True),
            eval_npz=eval_npz,
            base_name="b",
            recipes=recipes,
        )
    )
    assert result.skipped == ()
    assert sorted(c.recipe for c in result.variants) == sorted(recipes)
    for card in result.variants:
        assert {"CONV_2D", "FULLY_CONNECTED"} <= set(card.facts.ops), card.recipe
        assert "ADD" not in card.facts.ops
        assert (NORMALISED_NOTE in card.notes) == (card.recipe != "fp32"), card.recipe
    by_recipe = {c.recipe: c for c in result.variants}
    assert by_recipe["dynamic_wi8_afp32"].facts.hybrid
    assert by_recipe["static_wi8_ai8"].facts.full_integer
    assert by_recipe["static_wi8_ai8"].facts.tflm_arena is not None


@pytest.mark.parametrize(
    ("mangle", "error", "message"),
    [
        (lambda b, e: (b[: len(b) // 2], e), (InvalidArgument, ModelLoadError), "digits_w0.5.tflite"),
        (
            lambda b, e: (b"GIF89a not a model at all", e),
            (InvalidArgument,),
            "digits_w0.5.tflite: not a TFLite",
        ),
        (
            lambda b, e: (b, _npz(np.zeros((3, 8, 8, 1), np.float32), [0, 1, 2])),
            (InvalidArgument,),
            "\\[8, 8, 1\\]",
        ),
        (lambda b, e: (b, _npz(np.zeros((0, 32, 32, 1), np.float32), [])), (InvalidArgument,), "empty"),
    ],
    ids=["truncated", "not-a-flatbuffer", "eval-shape-mismatch", "empty-eval"],
)
def test_bad_input_is_refused_and_nothing_is_written(  # type: ignore[no-untyped-def]
    tmp_path: Path, family: ReferenceFamily, mangle, error, message
) -> None:
    service = variant_service(tmp_path)
    base, eval_npz = mangle(family.models[0].path.read_bytes(), family.eval_path.read_bytes())
    with pytest.raises(error, match=message):
        service.build(build_request(family, 0, base=base, eval_npz=eval_npz))
    assert service.list_variants() == []
    assert object_count(tmp_path) == 0


def test_another_eval_set_for_the_same_model_is_refused(built, family: ReferenceFamily) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = built
    x = np.zeros((4, 32, 32, 1), np.float32)
    with pytest.raises(InvalidArgument, match="another evaluation set"):
        service.build(build_request(family, 0, eval_npz=_npz(x, [0, 1, 2, 3])))


def _npz(x: np.ndarray, y: list[int]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=np.array(y, dtype=np.int64))
    return buf.getvalue()
