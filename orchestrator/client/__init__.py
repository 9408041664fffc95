"""Client of FleetAdmin for the CLI and scripts. Returns domain objects; raises domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from edgefleet.core.rpc import error_from_rpc
from edgefleet.orchestrator.client.convert import benchmark_view, device_view, rollout_view, telemetry_view
from edgefleet.orchestrator.client.views import BenchmarkView, DeviceView, RolloutView, TelemetryView
from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.profiles import Profile
from edgefleet.orchestrator.rollout.model import Event
from edgefleet.orchestrator.selection import ProfilePlan
from edgefleet.orchestrator.service.variants import BuildResult, Progress
from edgefleet.orchestrator.variants.card import PruningRecord, VariantCard
from edgefleet.orchestrator.wire.fleet import window_from_pb
from edgefleet.orchestrator.wire.plans import plan_from_pb, profile_from_pb
from edgefleet.orchestrator.wire.rollouts import event_from_pb
from edgefleet.orchestrator.wire.variants import build_result_from_pb, card_from_pb, pruning_to_pb
from edgefleet.v1 import admin_pb2, admin_pb2_grpc

__all__ = ["DEFAULT_SERVER", "AdminClient"]

DEFAULT_SERVER = "127.0.0.1:50052"


class AdminClient:
    """``ca_pem``: verify the orchestrator's certificate (TLS); ``None`` is plaintext (insecure servers).
    ``token``: the admin credential, sent on every call."""

    def __init__(
        self,
        target: str = DEFAULT_SERVER,
        *,
        ca_pem: bytes | None = None,
        token: str = "",
        max_message_mb: int = 64,
        timeout: float = 60.0,
    ) -> None:
        self.target = target
        self.timeout = timeout
        size = max_message_mb * 1024 * 1024
        options = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
        if ca_pem is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            creds = grpc.ssl_channel_credentials(ca_pem)
            self._channel = grpc.secure_channel(target, creds, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._stub = admin_pb2_grpc.FleetAdminStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=timeout or self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, target=self.target) from exc

    # ---- variants ----
    def build_variants(
        self,
        *,
        model: str,
        base: bytes,
        eval_npz: bytes,
        base_name: str,
        recipes: tuple[str, ...] = (),
        threads: int = 1,
        timeout: float = 1800.0,
        source_name: str = "",
        eval_source_name: str = "",
        pruning: PruningRecord | None = None,
    ) -> Iterator[Progress | BuildResult]:
        """Progress updates, then the result. ``source_name``, ``eval_source_name``: what the user called the
        files (their paths), for the server's messages about them; ``pruning``: how the base was pruned
        (recorded on its cards)."""
        request = admin_pb2.BuildVariantsRequest(
            model=model,
            base_tflite=base,
            eval_npz=eval_npz,
            base_name=base_name,
            recipes=recipes,
            threads=threads,
            source_name=source_name,
            eval_source_name=eval_source_name,
            pruning=pruning_to_pb(pruning) if pruning is not None else None,
        )
        try:
            for msg in self._stub.BuildVariants(request, timeout=timeout, metadata=self._metadata):
                if msg.HasField("result"):
                    yield build_result_from_pb(msg.result)
                else:
                    yield Progress(msg.stage, msg.done, msg.total)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, target=self.target) from exc

    def add_variant(
        self,
        *,
        model: str,
        data: bytes,
        recipe: str = "",
        eval_npz: bytes = b"",
        source_name: str = "",
        eval_source_name: str = "",
    ) -> VariantCard:
        req = admin_pb2.AddVariantRequest(
            model=model,
            tflite=data,
            recipe=recipe,
            eval_npz=eval_npz,
            source_name=source_name,
            eval_source_name=eval_source_name,
        )
        return card_from_pb(self._call("AddVariant", req, timeout=600.0))

    def list_variants(self, model: str = "") -> list[VariantCard]:
        resp = self._call("ListVariants", admin_pb2.ListVariantsRequest(model=model))
        return [card_from_pb(c) for c in resp.variants]

    def get_variant(self, variant_id: str) -> VariantCard:
        return card_from_pb(self._call("GetVariant", admin_pb2.GetVariantRequest(variant_id=variant_id)))

    # ---- profiles and plans ----
    def list_profiles(self) -> list[Profile]:
        return [
            profile_from_pb(p) for p in self._call("ListProfiles", admin_pb2.ListProfilesRequest()).profiles
        ]

    def get_profile(self, name: str) -> Profile:
        return profile_from_pb(self._call("GetProfile", admin_pb2.GetProfileRequest(name=name)))

    def plan(
        self,
        model: str,
        profiles: tuple[str, ...] = (),
        objective: str = "min-energy",
        labels: dict[str, str] | None = None,
    ) -> list[ProfilePlan]:
        req = admin_pb2.PlanRequest(model=model, profiles=profiles, objective=objective, labels=labels or {})
        return [plan_from_pb(p) for p in self._call("Plan", req).plans]

    # ---- devices and deployments ----
    def create_token(
        self, *, ttl_seconds: float = 3600.0, profile: str = "", uses: int = 1
    ) -> tuple[str, float]:
        req = admin_pb2.CreateEnrollmentTokenRequest(ttl_seconds=ttl_seconds, profile=profile, uses=uses)
        msg = self._call("CreateEnrollmentToken", req)
        return msg.token, msg.expires.ToNanoseconds() / 1e9

    def revoke_device(self, device_id: str, reason: str = "") -> DeviceView:
        msg = self._call("RevokeDevice", admin_pb2.RevokeDeviceRequest(device_id=device_id, reason=reason))
        return device_view(msg)

    def label_device(self, device_id: str, set_: dict[str, str], remove: tuple[str, ...] = ()) -> DeviceView:
        req = admin_pb2.LabelDeviceRequest(device_id=device_id, set=set_, remove=remove)
        return device_view(self._call("LabelDevice", req))

    def list_devices(self, profile: str = "") -> list[DeviceView]:
        resp = self._call("ListDevices", admin_pb2.ListDevicesRequest(profile=profile))
        return [device_view(d) for d in resp.devices]

    def get_device(self, device_id: str) -> DeviceView:
        return self.get_device_windows(device_id)[0]

    def get_device_windows(self, device_id: str) -> tuple[DeviceView, list[WindowRecord]]:
        """The device and its most recent telemetry windows (newest first)."""
        msg = self._call("GetDevice", admin_pb2.GetDeviceRequest(device_id=device_id))
        return device_view(msg), [window_from_pb(msg.device_id, msg.profile, w) for w in msg.recent_windows]

    def telemetry(self, model: str, profile: str = "") -> list[TelemetryView]:
        resp = self._call("GetTelemetry", admin_pb2.GetTelemetryRequest(model=model, profile=profile))
        return [telemetry_view(v) for v in resp.variants]

    def deploy(
        self,
        model: str,
        *,
        profiles: tuple[str, ...] = (),
        device_ids: tuple[str, ...] = (),
        variant_id: str = "",
        objective: str = "min-energy",
        labels: dict[str, str] | None = None,
        force: bool = False,
    ) -> list[tuple[str, str, str, int]]:
        """(device id, profile, variant id, generation) per targeted device."""
        req = admin_pb2.DeployRequest(
            model=model,
            target=admin_pb2.DeviceTarget(profiles=profiles, device_ids=device_ids, labels=labels or {}),
            variant_id=variant_id,
            objective=objective,
            force=force,
        )
        resp = self._call("Deploy", req, timeout=600.0)
        return [(a.device_id, a.profile, a.variant.variant_id, a.generation) for a in resp.assignments]

    # ---- rollouts and events ----
    def start_rollout(
        self,
        model: str,
        *,
        profiles: tuple[str, ...] = (),
        device_ids: tuple[str, ...] = (),
        policy: dict[str, Any] | None = None,
        variants: dict[str, str] | None = None,
        objective: str = "min-energy",
        labels: dict[str, str] | None = None,
        force: bool = False,
        benchmark: bool = True,
        benchmark_devices: int = 0,
        benchmark_rounds: int = 0,
        benchmark_turn_seconds: float = 0.0,
    ) -> RolloutView:
        p = admin_pb2.RolloutPolicy(**(policy or {}))
        req = admin_pb2.StartRolloutRequest(
            model=model,
            target=admin_pb2.DeviceTarget(profiles=profiles, device_ids=device_ids, labels=labels or {}),
            policy=p,
            variants=variants or {},
            objective=objective,
            force=force,
            skip_benchmark=not benchmark,
            benchmark_devices=benchmark_devices,
            benchmark_rounds=benchmark_rounds,
            benchmark_turn_seconds=benchmark_turn_seconds,
        )
        return rollout_view(self._call("StartRollout", req, timeout=600.0))

    def get_rollout(self, rollout_id: str) -> RolloutView:
        return rollout_view(self._call("GetRollout", admin_pb2.GetRolloutRequest(rollout_id=rollout_id)))

    def list_rollouts(self, model: str = "") -> list[RolloutView]:
        resp = self._call("ListRollouts", admin_pb2.ListRolloutsRequest(model=model))
        return [rollout_view(r) for r in resp.rollouts]

    def control_rollout(self, rollout_id: str, action: str, reason: str = "") -> RolloutView:
        req = admin_pb2.ControlRolloutRequest(rollout_id=rollout_id, action=action, reason=reason)
        return rollout_view(self._call("ControlRollout", req))

    def rollback(self, model: str, profile: str, reason: str) -> list[tuple[str, str, int]]:
        resp = self._call("Rollback", admin_pb2.RollbackRequest(model=model, profile=profile, reason=reason))
        return [(a.device_id, a.variant.variant_id, a.generation) for a in resp.assignments]

    def unblock(self, model: str, profile: str, variant_id: str) -> None:
        self._call("Unblock", admin_pb2.UnblockRequest(model=model, profile=profile, variant_id=variant_id))

    # ---- benchmark jobs ----
    def start_benchmark(
        self,
        model: str,
        profile: str,
        *,
        top_k: int = 3,
        devices: int = 1,
        rounds: int = 5,
        turn_seconds: float = 2.0,
        deadline_seconds: float = 300.0,
    ) -> BenchmarkView:
        req = admin_pb2.StartBenchmarkRequest(
            model=model,
            profile=profile,
            top_k=top_k,
            devices=devices,
            rounds=rounds,
            turn_seconds=turn_seconds,
            deadline_seconds=deadline_seconds,
        )
        return benchmark_view(self._call("StartBenchmark", req, timeout=600.0))

    def get_benchmark(self, job_id: str) -> BenchmarkView:
        return benchmark_view(self._call("GetBenchmark", admin_pb2.GetBenchmarkRequest(job_id=job_id)))

    def list_benchmarks(self, model: str = "", profile: str = "") -> list[BenchmarkView]:
        resp = self._call("ListBenchmarks", admin_pb2.ListBenchmarksRequest(model=model, profile=profile))
        return [benchmark_view(j) for j in resp.jobs]

    def events(self, **filters: Any) -> list[Event]:
        resp = self._call("ListEvents", admin_pb2.ListEventsRequest(**filters))
        return [event_from_pb(e) for e in resp.events]
