"""Which stored objects a device may download, for both ways it downloads (FetchArtifact on the control
stream's port, and the HTTPS artifact origin): the bundle of its desired state, and the candidates of the
benchmark jobs addressed to it. Nothing else, whatever it asks for."""

from __future__ import annotations

import asyncio

from edgefleet.core.errors import PermissionDenied
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.service.deployments import DeploymentService

__all__ = ["authorise_artifact"]


async def authorise_artifact(
    deployments: DeploymentService, benchmarks: BenchmarkService, device: DeviceRecord, sha256: str
) -> None:
    """Return when ``device`` may fetch ``sha256``; raise PermissionDenied otherwise. The job lookup reads
    the store: it runs on a worker thread, and only when the desired state does not already allow it."""
    if sha256 in deployments.artifacts_for(device):
        return
    if sha256 in await asyncio.to_thread(benchmarks.artifacts_for, device.device_id):
        return
    raise PermissionDenied(
        f"artifact {sha256[:64]!r} is not part of {device.device_id}'s desired state; "
        "a device fetches only what it is told to run"
    )
