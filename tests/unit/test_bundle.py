from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from edgefleet.core.bundle import Manifest, open_bundle, run_self_test, write_bundle
from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import EvalSet

MODEL = b"pretend this is a tflite model"
SAMPLES = EvalSet(np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]), ("no", "yes"), "t")


def manifest(**kw: object) -> Manifest:
    args: dict[str, object] = {
        "variant_id": hashlib.sha256(MODEL).hexdigest(),
        "model": "m",
        "recipe": "fp32",
        "base_name": "w1",
        "labels": ("no", "yes"),
        "expected_classes": (0, 1, 0, 1),
        "min_agreement": 0.75,
    }
    args.update(kw)
    return Manifest(**args)  # type: ignore[arg-type]


def test_round_trip_is_deterministic(tmp_path: Path) -> None:
    data = write_bundle(manifest(), MODEL, SAMPLES)
    assert data == write_bundle(manifest(), MODEL, SAMPLES)
    path = tmp_path / "b.tar"
    path.write_bytes(data)
    b = open_bundle(path)
    assert b.model == MODEL
    assert b.manifest == manifest()
    assert b.samples.y.tolist() == [0, 1, 0, 1]


def test_writer_refuses_a_model_that_is_not_the_variant() -> None:
    with pytest.raises(InvalidArgument, match="not the manifest's variant id"):
        write_bundle(manifest(variant_id="0" * 64), MODEL, SAMPLES)


def _tar(tmp_path: Path, members: dict[str, bytes], *, link: str = "") -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    path = tmp_path / "evil.tar"
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize(
    ("members", "link", "message"),
    [
        ({"../../etc/cron.d/x": b"boom"}, "", "unexpected member '../../etc/cron.d/x'"),
        ({"manifest.json": b"{}"}, "model.tflite", "unexpected member 'model.tflite'"),
        (
            {"manifest.json": b"not json", "model.tflite": MODEL, "samples.npz": SAMPLES.to_npz_bytes()},
            "",
            "manifest is invalid",
        ),
        (
            {
                "manifest.json": manifest().to_json(),
                "model.tflite": b"other",
                "samples.npz": SAMPLES.to_npz_bytes(),
            },
            "",
            "does not match variant",
        ),
        ({"manifest.json": manifest().to_json()}, "", "missing"),
    ],
)
def test_hostile_bundles_are_refused(
    tmp_path: Path, members: dict[str, bytes], link: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        open_bundle(_tar(tmp_path, members, link=link))


def test_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InvalidArgument, match=r"not a readable bundle|unexpected member"):
        open_bundle(path)


def test_self_test_compares_with_the_hosts_predictions(tmp_path: Path) -> None:
    path = tmp_path / "b.tar"
    path.write_bytes(write_bundle(manifest(), MODEL, SAMPLES))
    b = open_bundle(path)
    assert run_self_test(lambda x: np.array([0, 1, 0, 1]), b).passed
    assert run_self_test(lambda x: np.array([0, 1, 0, 0]), b).passed  # 75% == the minimum
    failed = run_self_test(lambda x: np.array([1, 0, 0, 1]), b)
    assert not failed.passed
    assert "50% of 4 bundled samples agree" in failed.reason
