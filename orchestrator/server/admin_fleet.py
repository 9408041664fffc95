"""FleetAdmin RPCs about devices and deployments (mixed into the FleetAdmin servicer)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import grpc

from edgefleet.core.errors import Unauthenticated
from edgefleet.orchestrator.fleet.model import Condition, DeviceRecord, WindowRecord
from edgefleet.orchestrator.server.errors import translate_errors
from edgefleet.orchestrator.server.streams import Streams
from edgefleet.orchestrator.service.deployments import Assignment, DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.identity import IdentityService
from edgefleet.orchestrator.service.telemetry import TelemetryService
from edgefleet.orchestrator.store.results import Presence
from edgefleet.orchestrator.wire.fleet import assignments_to_pb, device_to_pb, window_to_pb
from edgefleet.orchestrator.wire.telemetry import telemetry_to_pb
from edgefleet.v1 import admin_pb2

__all__ = ["FleetAdminDevices"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class FleetAdminDevices:
    _identity: IdentityService
    _devices: DeviceService
    _deployments: DeploymentService
    _telemetry: TelemetryService
    _streams: Streams
    _push: Callable[[Sequence[Assignment]], None]

    def _with_status(
        self,
        device: DeviceRecord,
        presence: Mapping[str, Presence],
        recent: Sequence[WindowRecord] = (),
    ) -> admin_pb2.Device:
        """The device with what the replica holding its stream knows (online, last seen, conditions)."""
        here = presence.get(device.device_id)
        if here is None:
            msg = device_to_pb(dataclasses.replace(device, online=False))
        else:
            known = {c.type for c in device.conditions}
            conditions = (*device.conditions, *(Condition(*c) for c in here.conditions if c[0] not in known))
            seen = max(device.last_seen, here.last_seen)
            live = dataclasses.replace(device, online=True, last_seen=seen, conditions=conditions)
            msg = device_to_pb(live, replica=here.replica)
        msg.recent_windows.extend(window_to_pb(w) for w in recent)
        return msg

    async def _presence(self, device_ids: Sequence[str] = ()) -> dict[str, Presence]:
        return await asyncio.to_thread(self._streams.online, device_ids)

    @translate_errors
    async def CreateEnrollmentToken(
        self, request: admin_pb2.CreateEnrollmentTokenRequest, context: Ctx
    ) -> admin_pb2.EnrollmentToken:
        token, expires = await asyncio.to_thread(
            lambda: self._identity.create_token(
                ttl_seconds=request.ttl_seconds or 3600.0, profile=request.profile, uses=request.uses or 1
            )
        )
        msg = admin_pb2.EnrollmentToken(token=token)
        msg.expires.FromNanoseconds(int(expires * 1e9))
        return msg

    @translate_errors
    async def ListDevices(
        self, request: admin_pb2.ListDevicesRequest, context: Ctx
    ) -> admin_pb2.ListDevicesResponse:
        devices = await asyncio.to_thread(self._devices.list_devices, request.profile)
        presence = await self._presence()
        return admin_pb2.ListDevicesResponse(devices=[self._with_status(d, presence) for d in devices])

    @translate_errors
    async def GetDevice(self, request: admin_pb2.GetDeviceRequest, context: Ctx) -> admin_pb2.Device:
        device = await asyncio.to_thread(self._devices.get, request.device_id)
        recent = await asyncio.to_thread(self._telemetry.recent, device.device_id, 10)
        return self._with_status(device, await self._presence([device.device_id]), recent)

    @translate_errors
    async def RevokeDevice(self, request: admin_pb2.RevokeDeviceRequest, context: Ctx) -> admin_pb2.Device:
        reason = request.reason or "revoked by an operator"
        device = await asyncio.to_thread(self._identity.revoke, request.device_id, reason)
        # Cut the live stream now, on whichever replica holds it; reconnects are refused by authentication.
        self._streams.kick(device.device_id, Unauthenticated(f"device {device.device_id} revoked: {reason}"))
        return self._with_status(device, {})

    @translate_errors
    async def LabelDevice(self, request: admin_pb2.LabelDeviceRequest, context: Ctx) -> admin_pb2.Device:
        device = await asyncio.to_thread(
            self._devices.label, request.device_id, dict(request.set), tuple(request.remove)
        )
        return self._with_status(device, await self._presence([device.device_id]))

    @translate_errors
    async def GetTelemetry(
        self, request: admin_pb2.GetTelemetryRequest, context: Ctx
    ) -> admin_pb2.GetTelemetryResponse:
        rows = await asyncio.to_thread(self._telemetry.summary, request.model, request.profile)
        return admin_pb2.GetTelemetryResponse(variants=[telemetry_to_pb(request.model, r) for r in rows])

    @translate_errors
    async def Deploy(self, request: admin_pb2.DeployRequest, context: Ctx) -> admin_pb2.DeployResponse:
        assignments = await asyncio.to_thread(
            self._deployments.deploy,
            model=request.model,
            profiles=tuple(request.target.profiles),
            device_ids=tuple(request.target.device_ids),
            variant_id=request.variant_id,
            objective=request.objective or "min-energy",
            labels=dict(request.target.labels),
            force=request.force,
        )
        self._push(assignments)  # connected devices hear about it now; others on their next Hello
        return admin_pb2.DeployResponse(assignments=assignments_to_pb(assignments))
