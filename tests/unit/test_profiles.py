from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from edgefleet.core.errors import InvalidArgument, NotFound
from edgefleet.orchestrator.profiles import ProfileRegistry, load_profile_file, parse_profile


def builtin_doc(name: str) -> dict[str, Any]:
    text = (resources.files("edgefleet.orchestrator.profiles") / "builtin" / f"{name}.toml").read_text()
    return tomllib.loads(text)


def test_builtin_profiles() -> None:
    reg = ProfileRegistry.load()
    assert reg.names() == ["mcu-gateway", "phone", "rpi4"]
    rpi, mcu = reg.get("rpi4"), reg.get("mcu-gateway")
    assert rpi.hardware.cores == 4
    assert (rpi.power.idle_watts, rpi.power.active_watts) == (2.29, 6.82)
    assert any("PowerJoular" in s for s in rpi.sources)
    assert mcu.runtime == "tflite-micro"
    assert mcu.full_integer_only
    assert (mcu.hardware.sram_bytes, mcu.hardware.flash_bytes) == (327680, 1048576)
    assert mcu.power.kind == "per-mac"
    assert all(p.sources for p in reg.all())


def test_unknown_profile() -> None:
    with pytest.raises(
        NotFound, match=r"unknown profile 'jetson'; known: \['mcu-gateway', 'phone', 'rpi4'\]"
    ):
        ProfileRegistry.load().get("jetson")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["budgets"].update(max_energy_joules="2 mJ"),
            "budgets.max_energy_joules must be a number, got str '2 mJ'",
        ),
        (
            lambda d: d["budgets"].update(max_latency_p95_seconds=-0.001),
            "budgets.max_latency_p95_seconds must be > 0, got -0.001",
        ),
        (
            lambda d: d["budgets"].update(accuracy_floor=93),
            r"budgets.accuracy_floor must be in \(0, 1\], got 93",
        ),
        (lambda d: d["hardware"].update(cores=2.5), "hardware.cores must be a whole number"),
        (lambda d: d["hardware"].update(cores=True), "hardware.cores must be a number, got bool"),
        (lambda d: d.pop("budgets"), r"missing \[budgets\] table"),
        (lambda d: d["budgets"].pop("max_model_bytes"), r"\[budgets\] needs max_model_bytes"),
        (lambda d: d["power"].update(watts=3), r"unknown key\(s\) in \[power\]: \['watts'\]"),
        (lambda d: d.update(colour="red"), r"unknown key\(s\) \['colour'\]"),
        (
            lambda d: d.update(runtime="onnx"),
            "runtime must be one of \\['litert', 'tflite-micro'\\], got 'onnx'",
        ),
        (
            lambda d: d["power"].update(active_watts=1.0),
            r"power.active_watts \(1.0\) is below power.idle_watts \(2.29\)",
        ),
        (lambda d: d.update(name="Pi 4/../x"), "invalid profile name"),
        (lambda d: d["power"].update(kind="per-mac"), "needs power.energy_per_mac_joules > 0"),
        (lambda d: d["budgets"].update(max_energy_joules=float("nan")), "must be finite"),
    ],
)
def test_invalid_profiles_name_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = builtin_doc("rpi4")
    mutate(doc)
    with pytest.raises(InvalidArgument, match=message) as info:
        parse_profile(doc, origin="my.toml")
    assert info.value.message.startswith("my.toml: ")


def test_tflite_micro_profile_needs_sram_and_flash() -> None:
    doc = builtin_doc("mcu-gateway")
    doc["hardware"]["sram_bytes"] = 0
    with pytest.raises(InvalidArgument, match=r"needs hardware\.sram_bytes and hardware\.flash_bytes"):
        parse_profile(doc, origin="mcu.toml")


def test_user_profiles_from_a_directory(tmp_path: Path) -> None:
    text = (resources.files("edgefleet.orchestrator.profiles") / "builtin" / "rpi4.toml").read_text()
    (tmp_path / "pi-zero.toml").write_text(text.replace('name = "rpi4"', 'name = "pi-zero"'))
    (tmp_path / "rpi4.toml").write_text(text.replace("accuracy_floor = 0.93", "accuracy_floor = 0.97"))
    reg = ProfileRegistry.load([tmp_path])
    assert reg.names() == ["mcu-gateway", "phone", "pi-zero", "rpi4"]
    assert reg.get("rpi4").budgets.accuracy_floor == 0.97  # the user's file replaces the built-in
    assert reg.get("rpi4").origin == str(tmp_path / "rpi4.toml")


def test_bad_toml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(InvalidArgument, match=f"{bad}: invalid TOML"):
        load_profile_file(bad)
    with pytest.raises(InvalidArgument, match="no such profile file"):
        load_profile_file(tmp_path / "absent.toml")
