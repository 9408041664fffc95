"""Fuzzing every RPC of a real mTLS orchestrator with random and malformed protobuf bytes (hypothesis).

Whatever arrives, the answer is a status that names the problem: never UNKNOWN, never an unhandled
exception ("internal error" with a traceback in the log), never a hang; and the server keeps serving.
The admin calls carry the admin token and the agent calls a real device certificate, so the bytes reach
the handlers instead of stopping at authentication.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.orchestrator.server.app import OrchestratorServer
from edgefleet.v1 import admin_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import orchestrator_in_thread

#: Hand-made malformed encodings: truncated varint, bad wire type, a length far past the end, deep groups.
MALFORMED = [
    b"\x08",
    b"\x0f",
    b"\x0a\xff\xff\xff\xff\x0f",
    b"\x0a\x05abc",
    b"\x0b" * 200,
    b"\xff" * 64,
    b"\x12\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
]


def _methods() -> list[tuple[str, Any]]:
    found = []
    for module, service in ((control_pb2, "FleetControl"), (admin_pb2, "FleetAdmin")):
        for m in module.DESCRIPTOR.services_by_name[service].methods:
            found.append((f"/edgefleet.v1.{service}/{m.name}", m))
    return found


METHODS = _methods()


@pytest.fixture(scope="module")
def served(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OrchestratorServer, Any, Any]]:
    root = tmp_path_factory.mktemp("fuzz")
    with orchestrator_in_thread(template, root / "run") as server:
        assert server.tls is not None
        api = grpc.secure_channel(server.api_address, grpc.ssl_channel_credentials(server.tls.ca_pem))
        key, csr = new_key_and_csr("fuzzer")
        token = server.services.identity.create_token()[0]
        reply = control_pb2_grpc.FleetControlStub(api).Enroll(
            control_pb2.EnrollRequest(token=token, profile="rpi4", csr_pem=csr), timeout=10
        )
        creds = grpc.ssl_channel_credentials(server.tls.ca_pem, key, reply.certificate_pem)
        agents = grpc.secure_channel(server.address, creds)
        yield server, api, agents
        api.close()
        agents.close()


def _call(server: OrchestratorServer, api: Any, agents: Any, path: str, method: Any, payload: bytes) -> Any:
    admin = path.startswith("/edgefleet.v1.FleetAdmin/")
    channel = api if admin or method.name == "Enroll" else agents
    assert server.tls is not None
    md = (("authorization", f"Bearer {server.tls.admin_token}"),) if admin else ()
    kw: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    if method.client_streaming and method.server_streaming:
        call = channel.stream_stream(path, **kw)
        return list(call(iter([payload, payload]), metadata=md, timeout=10))
    if method.server_streaming:
        return list(channel.unary_stream(path, **kw)(payload, metadata=md, timeout=10))
    if method.client_streaming:
        return channel.stream_unary(path, **kw)(iter([payload]), metadata=md, timeout=10)
    return channel.unary_unary(path, **kw)(payload, metadata=md, timeout=10)


def _check(served: tuple[OrchestratorServer, Any, Any], index: int, payload: bytes) -> None:
    server, api, agents = served
    path, method = METHODS[index % len(METHODS)]
    try:
        _call(server, api, agents, path, method, payload)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
        assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED), (path, code, details)
        assert "internal error" not in details, (path, payload[:60], details)
    # and the server still serves, with its store intact
    reply = health_pb2_grpc.HealthStub(api).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(min_value=0, max_value=len(METHODS) - 1), payload=st.binary(max_size=1500))
def test_random_bytes_to_every_rpc(
    served: tuple[OrchestratorServer, Any, Any], index: int, payload: bytes
) -> None:
    _check(served, index, payload)


@pytest.mark.parametrize("payload", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_protobuf_to_every_rpc(served: tuple[OrchestratorServer, Any, Any], payload: bytes) -> None:
    for index in range(len(METHODS)):
        _check(served, index, payload)


def test_the_store_is_intact_after_malformed_input(served: tuple[OrchestratorServer, Any, Any]) -> None:
    for index in range(len(METHODS)):
        _check(served, index, MALFORMED[2])
    assert served[0].services.variants.list_variants("digits")


def test_every_rpc_is_covered() -> None:
    names = {path.rsplit("/", 1)[1] for path, _ in METHODS}
    assert {"Enroll", "Connect", "FetchArtifact", "BuildVariants", "Deploy", "StartRollout"} <= names
    assert len(METHODS) >= 20, sorted(names)
