"""Writers of one device at once (a deploy, the device's Hello and deployment statuses, an operator's
labels): every write lands, none is refused as based on an old version. Before, the services read the
device and wrote it back by compare-and-swap, so a deploy racing a status failed with ABORTED ("changed by
another writer") on a loaded machine (seen in test_control_plane)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from edgefleet.core.enums import DeploymentPhase
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.fleet.model import Report
from edgefleet.orchestrator.server.wiring import open_services
from edgefleet.orchestrator.service.devices import StatusReport

ROUNDS = 30


def test_concurrent_writers_of_one_device_all_land(template: Path, tmp_path: Path) -> None:
    data = tmp_path / "orch"
    shutil.copytree(template, data)
    services = open_services(ServerConfig(data_dir=data, insecure=True))
    try:
        token = services.identity.create_token(profile="rpi4")[0]
        device = services.identity.enroll(token=token, profile="rpi4", name="", labels={}).device
        card = next(c for c in services.variants.list_variants("digits") if c.recipe == "fp32")
        errors: list[BaseException] = []

        def run(fn: Callable[[int], object]) -> threading.Thread:
            def loop() -> None:
                try:
                    for i in range(ROUNDS):
                        fn(i)
                except BaseException as e:
                    errors.append(e)

            return threading.Thread(target=loop)

        report = Report(hardware={}, runtime_name="ai-edge-litert", runtime_version="2.3.0")
        threads = [
            run(lambda i: services.deployments.assign(services.devices.get(device.device_id), card, "test")),
            run(
                lambda i: services.devices.record_status(
                    device.device_id, StatusReport(generation=i, phase=DeploymentPhase.DOWNLOADING)
                )
            ),
            run(lambda i: services.devices.hello(device.device_id, "rpi4", report)),
            run(lambda i: services.devices.label(device.device_id, {f"k{i}": "v"}, ())),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        final = services.devices.get(device.device_id)
        assert final.desired is not None
        assert final.desired.generation == ROUNDS  # every deploy a new generation, none lost
        assert set(final.labels) == {f"k{i}" for i in range(ROUNDS)}  # every label write landed
    finally:
        services.close()
