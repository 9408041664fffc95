"""mTLS device identity, enrolment, the admin credential and revocation, against a real TLS server.

Each check fails without its protection: a missing client-certificate requirement, a device id taken
from metadata instead of the certificate, an admin API without a token, or a revocation that does not
cut the stream would each let the call through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.orchestrator.security import init_tls
from edgefleet.orchestrator.server.app import OrchestratorServer
from edgefleet.v1 import admin_pb2, admin_pb2_grpc, control_pb2, control_pb2_grpc
from tests.helpers.fleet import (
    admin_client,
    agent_config,
    agent_in_process,
    committed,
    hello_message,
    orchestrator_in_process,
    push_desired,
    variant_id,
    wait_for,
)


async def enrol(
    server: OrchestratorServer, csr_pem: bytes, token: str = "", profile: str = "rpi4"
) -> control_pb2.EnrollResponse:
    assert server.tls is not None
    creds = grpc.ssl_channel_credentials(server.tls.ca_pem)
    async with grpc.aio.secure_channel(server.api_address, creds) as channel:
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        token = token or server.services.identity.create_token()[0]
        return await stub.Enroll(control_pb2.EnrollRequest(token=token, profile=profile, csr_pem=csr_pem))


async def status_of(call: Any) -> grpc.StatusCode:
    try:
        result = call()
        if hasattr(result, "__aiter__"):
            async for _ in result:
                pass
        else:
            await result
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def connect(stub: Any, *msgs: control_pb2.AgentMessage, metadata: Any = ()) -> Any:
    """A Connect call sending ``msgs``; with none it sends nothing (refusals judged on the metadata and the
    certificate alone): no send can then race the server's refusal, which grpc reports as INTERNAL."""

    async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
        for m in msgs:
            yield m
        if not msgs:
            await asyncio.Event().wait()

    return lambda: stub.Connect(requests(), metadata=metadata, timeout=5)


def foreign_identity(tmp_path: Path) -> tuple[bytes, bytes]:
    """A key and a client certificate from another CA, with a real device id of ours as its name."""
    other = tmp_path / "other-ca"
    init_tls(other, ("127.0.0.1",))
    ca_key = serialization.load_pem_private_key((other / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((other / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rpi4-0000000000")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


async def test_enrolment_issues_a_certificate_for_the_assigned_id_only(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        key_pem, csr_pem = new_key_and_csr("i-claim-to-be-someone-else")
        reply = await enrol(server, csr_pem)
        cert = x509.load_pem_x509_certificate(reply.certificate_pem)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == reply.device_id
        assert reply.device_secret == ""  # no bearer secret exists with mTLS
        assert reply.ca_certificate_pem == server.tls.ca_pem  # type: ignore[union-attr]

        # one-time token: a second use is refused
        token = server.services.identity.create_token()[0]
        await enrol(server, new_key_and_csr("a")[1], token)
        with pytest.raises(grpc.aio.AioRpcError) as used:
            await enrol(server, new_key_and_csr("b")[1], token)
        assert used.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # an expired token is refused
        expired = server.services.identity.create_token(ttl_seconds=0.001)[0]
        await asyncio.sleep(0.05)
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await enrol(server, new_key_and_csr("c")[1], expired)
        assert late.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # no CSR, garbage, a forged CSR signature, an RSA key: INVALID_ARGUMENT, and the token is not used up
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rsa_csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
            .sign(rsa_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
        tampered = csr_pem.replace(csr_pem[100:104], b"AAAA")
        token = server.services.identity.create_token()[0]
        for bad, words in (
            (b"", "certificate signing request"),
            (b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n", "csr_pem"),
            (tampered, "csr_pem"),
            (rsa_csr, "P-256"),
            (b"x" * 20_000, "at most"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await enrol(server, bad, token)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad[:40]
            assert words in (err.value.details() or "")
        await enrol(server, new_key_and_csr("d")[1], token)  # still usable after the refusals
        del key_pem

        # a token for another profile is refused, and the refusal does not spend it (issue 15 item 15)
        phone_only = server.services.identity.create_token(profile="phone")[0]
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await enrol(server, new_key_and_csr("e")[1], phone_only, profile="rpi4")
        assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "for profile 'phone'" in (other.value.details() or "")
        await enrol(server, new_key_and_csr("f")[1], phone_only, profile="phone")


async def test_agent_port_needs_our_certificate_and_its_own_identity(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        assert server.tls is not None
        key_a, csr_a = new_key_and_csr("a")
        a = await enrol(server, csr_a)
        _, csr_b = new_key_and_csr("b")
        b = await enrol(server, csr_b)
        ca = server.tls.ca_pem

        # no client certificate: the TLS handshake itself is refused on the agents' port
        async with grpc.aio.secure_channel(server.address, grpc.ssl_channel_credentials(ca)) as ch:
            code = await status_of(connect(control_pb2_grpc.FleetControlStub(ch), hello_message(a.device_id)))
            assert code == grpc.StatusCode.UNAVAILABLE
        # a certificate from another CA, even with one of our device ids in it: refused too
        key_x, cert_x = foreign_identity(tmp_path)
        creds = grpc.ssl_channel_credentials(ca, key_x, cert_x)
        async with grpc.aio.secure_channel(server.address, creds) as ch:
            stub: Any = control_pb2_grpc.FleetControlStub(ch)
            code = await status_of(connect(stub, hello_message("rpi4-0000000000")))
            assert code == grpc.StatusCode.UNAVAILABLE
        # the API port has no client certificate, so agent RPCs there are UNAUTHENTICATED
        async with grpc.aio.secure_channel(server.api_address, grpc.ssl_channel_credentials(ca)) as ch:
            stub = control_pb2_grpc.FleetControlStub(ch)
            md = (("x-edgefleet-device", a.device_id),)
            assert await status_of(connect(stub, metadata=md)) == grpc.StatusCode.UNAUTHENTICATED
            fetch = control_pb2.FetchArtifactRequest(sha256="0" * 64)
            code = await status_of(lambda: stub.FetchArtifact(fetch, metadata=md, timeout=5))
            assert code == grpc.StatusCode.UNAUTHENTICATED

        # A's certificate speaking for B: in metadata, or in the Hello
        creds = grpc.ssl_channel_credentials(ca, key_a, a.certificate_pem)
        async with grpc.aio.secure_channel(server.address, creds) as ch:
            stub = control_pb2_grpc.FleetControlStub(ch)
            md_b = (("x-edgefleet-device", b.device_id),)
            assert await status_of(connect(stub, metadata=md_b)) == grpc.StatusCode.PERMISSION_DENIED
            assert (
                await status_of(connect(stub, hello_message(b.device_id)))
                == grpc.StatusCode.PERMISSION_DENIED
            )
            fetch = control_pb2.FetchArtifactRequest(sha256="0" * 64)
            code = await status_of(lambda: stub.FetchArtifact(fetch, metadata=md_b, timeout=5))
            assert code == grpc.StatusCode.PERMISSION_DENIED
            # and as itself it is let in, and then told this artifact is not one it may fetch
            code = await status_of(lambda: stub.FetchArtifact(fetch, timeout=5))
            assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_device_fetches_only_the_artifacts_of_its_desired_state(
    template: Path, tmp_path: Path
) -> None:
    """Issue 15 item 13: any enrolled device could download any stored object (other profiles' bundles,
    raw model files never deployed to anyone)."""
    async with orchestrator_in_process(template, tmp_path) as server:
        assert server.tls is not None
        key, csr = new_key_and_csr("a")
        me = await enrol(server, csr)
        services = server.services
        mine = variant_id(server, "w1.0", "fp32")
        [assignment] = services.deployments.deploy(model="digits", device_ids=[me.device_id], variant_id=mine)
        others = services.bundles.ensure(variant_id(server, "w0.5", "static_wi8_ai8")).sha256
        raw_model = variant_id(server, "w2.0", "fp32")  # a stored object: the model file itself
        creds = grpc.ssl_channel_credentials(server.tls.ca_pem, key, me.certificate_pem)
        async with grpc.aio.secure_channel(server.address, creds) as ch:
            stub: Any = control_pb2_grpc.FleetControlStub(ch)

            async def fetch(sha256: str) -> grpc.StatusCode:
                request = control_pb2.FetchArtifactRequest(sha256=sha256)
                return await status_of(lambda: stub.FetchArtifact(request, timeout=10))

            assert await fetch(assignment.desired.bundle_sha256) == grpc.StatusCode.OK
            assert await fetch(others) == grpc.StatusCode.PERMISSION_DENIED
            assert await fetch(raw_model) == grpc.StatusCode.PERMISSION_DENIED


async def test_admin_api_needs_its_token(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        assert server.tls is not None
        creds = grpc.ssl_channel_credentials(server.tls.ca_pem)
        async with grpc.aio.secure_channel(server.api_address, creds) as ch:
            stub: Any = admin_pb2_grpc.FleetAdminStub(ch)
            token_req = admin_pb2.CreateEnrollmentTokenRequest(ttl_seconds=60)
            build = admin_pb2.BuildVariantsRequest(model="x")
            for md in ((), (("authorization", "Bearer wrong"),), (("authorization", "Basic x"),)):
                code = await status_of(
                    lambda md=md: stub.ListDevices(admin_pb2.ListDevicesRequest(), metadata=md)
                )
                assert code == grpc.StatusCode.UNAUTHENTICATED
                code = await status_of(lambda md=md: stub.CreateEnrollmentToken(token_req, metadata=md))
                assert code == grpc.StatusCode.UNAUTHENTICATED
                code = await status_of(lambda md=md: stub.BuildVariants(build, metadata=md))  # a stream
                assert code == grpc.StatusCode.UNAUTHENTICATED
            good = (("authorization", f"Bearer {server.tls.admin_token}"),)
            assert await status_of(
                lambda: stub.ListDevices(admin_pb2.ListDevicesRequest(), metadata=good)
            ) == (grpc.StatusCode.OK)
        # health stays open (load balancers, Kubernetes probes)
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        async with grpc.aio.secure_channel(server.api_address, creds) as ch:
            reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_revocation_cuts_the_stream_and_refuses_reconnects(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="mTLS stream")
            assert agent.identity is not None
            assert agent.identity.mtls
            device_id = agent.identity.device_id
            assert device_id in server.sessions.connected()
            with admin_client(server) as api:
                revoked = await __import__("asyncio").to_thread(api.revoke_device, device_id, "stolen")
            assert revoked.status == "revoked"
            await wait_for(lambda: not agent.connected.is_set(), what="the stream cut")
            reconnects = agent.reconnects
            await wait_for(lambda: agent.reconnects >= reconnects + 2, what="refused reconnects")
            assert not agent.connected.is_set()
            assert device_id not in server.sessions.connected()
            assert server.services.deployments.targets(["rpi4"], []) == []  # never a deployment target again


async def test_signing_key_rotation_and_retirement(template: Path, tmp_path: Path) -> None:
    """Rotate: agents learn the new key on connect and still trust old bundles; retire: the old key's
    bundles are refused from then on."""
    from edgefleet.orchestrator.registry.signing import Signer

    keys_dir = tmp_path / "orch" / "keys"
    variants = {}
    async with orchestrator_in_process(template, tmp_path) as server:
        address = server.address
        for card in server.services.variants.list_variants("digits"):
            variants[(card.base_name, card.recipe)] = card.variant_id
        first, second = variants[("w0.5", "fp32")], variants[("w1.0", "fp32")]
        old_key = server.services.signer.public.key_id
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=first)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, first), what="first variant (old key)")
    old, new = Signer.rotate(keys_dir)
    assert old.key_id == old_key
    async with orchestrator_in_process(template, tmp_path, listen=address) as server:
        assert server.services.signer.public.key_id == new.key_id
        async with agent_in_process(cfg) as agent:
            await wait_for(
                lambda: (
                    agent.identity is not None and set(agent.identity.trusted()) == {old.key_id, new.key_id}
                ),
                what="the rotated key set",
            )
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=second)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, second), what="second variant (new key)")
            assert server.services.store.get_bundle(second).key_id == new.key_id  # type: ignore[union-attr]
    Signer.retire(keys_dir, old.key_id)
    async with (
        orchestrator_in_process(template, tmp_path, listen=address) as server,
        agent_in_process(cfg) as agent,
    ):
        await wait_for(
            lambda: agent.identity is not None and set(agent.identity.trusted()) == {new.key_id},
            what="the old key dropped",
        )
        # the first variant's bundle is signed by the retired key: refused, the second keeps serving
        [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=first)
        push_desired(server, a)
        await wait_for(lambda: server.services.devices.get(a.device_id).phase == "failed", what="refusal")
        device = server.services.devices.get(a.device_id)
        assert "untrusted key" in device.phase_reason, device.phase_reason
        assert committed(agent, second)


async def test_device_certificates_are_renewed_before_they_expire(template: Path, tmp_path: Path) -> None:
    """Certificates of 2 minutes: the agent renews at once (a third of the validity is left), keeps its
    device id, and its next connection uses the new certificate."""
    from edgefleet.agent.identity.tls import DeviceTls
    from edgefleet.core.errors import Unavailable

    async with orchestrator_in_process(template, tmp_path, device_cert_days=120 / 86400) as server:
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            assert agent.identity is not None
            device_id = agent.identity.device_id
            await wait_for(lambda: agent.certificate_renewals >= 1, what="a renewal")
            renewed = x509.load_pem_x509_certificate(DeviceTls.load(cfg.data_dir).certificate_pem)
            assert renewed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device_id
            server.sessions.kick(device_id, Unavailable("test: reconnect"))
            before = agent.reconnects
            await wait_for(lambda: agent.reconnects > before and agent.connected.is_set(), what="reconnect")
            assert device_id in server.sessions.connected()
            # the renewed pair is what the agent now presents: key and certificate belong together
            tls = DeviceTls.load(cfg.data_dir)
            key = serialization.load_pem_private_key(tls.key_pem, password=None)
            cert = x509.load_pem_x509_certificate(tls.certificate_pem)
            assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
            assert cert.subject == renewed.subject


async def test_a_cloned_identity_is_refused_without_a_reconnect_storm(template: Path, tmp_path: Path) -> None:
    """Issue 15 item 14: two processes with one certificate closed each other's stream over and over (158
    streams in 40 s), with no log line and no metric. Now the second is refused while the first is alive,
    counted and noted on the device; a stream gone quiet is taken over (a reconnect after a cut link)."""
    async with orchestrator_in_process(template, tmp_path) as server:
        assert server.tls is not None
        key, csr = new_key_and_csr("a")
        me = await enrol(server, csr)
        creds = grpc.ssl_channel_credentials(server.tls.ca_pem, key, me.certificate_pem)
        beating = asyncio.Event()
        beating.set()

        async def first_requests() -> AsyncIterator[control_pb2.AgentMessage]:
            yield hello_message(me.device_id)
            while True:
                if beating.is_set():
                    yield control_pb2.AgentMessage(heartbeat=control_pb2.Heartbeat())
                await asyncio.sleep(0.2)

        async with grpc.aio.secure_channel(server.address, creds) as ch:
            stub: Any = control_pb2_grpc.FleetControlStub(ch)
            first = stub.Connect(first_requests())
            await first.read()  # its config: the stream is up
            clone = await status_of(connect(stub, hello_message(me.device_id)))
            assert clone == grpc.StatusCode.ALREADY_EXISTS
            assert server.metrics.registry.get_sample_value("edgefleet_duplicate_streams_refused_total") == 1
            device = server.services.devices.get(me.device_id)
            assert [c.type for c in device.conditions] == ["identity.duplicate_stream"]
            assert first.done() is False  # the live stream was not disturbed
            beating.clear()  # the first goes quiet, as a stream behind a cut link does
            await asyncio.sleep(2.5)
            second = stub.Connect(first_requests())
            assert (await second.read()).WhichOneof("body") == "config"  # taken over
            second.cancel()
            first.cancel()
