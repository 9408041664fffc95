"""Agents and replicas without a network: several orchestrator addresses (parsing, failing over in the
connect loop), the notices replicas send each other (chunked under PostgreSQL's payload limit)."""

from __future__ import annotations

import random

import pytest

from edgefleet.agent.config import AgentConfig, load_agent_config, parse_addresses
from edgefleet.agent.connection.loop import Backoff, ConnectLoop
from edgefleet.core.errors import InvalidArgument, Unavailable
from edgefleet.orchestrator.replicas.notifier import Notice, NoticeKind


def test_several_addresses_are_parsed_in_order_and_bad_ones_named() -> None:
    assert parse_addresses("a:50051, b.example:50061", "orchestrator") == ("a:50051", "b.example:50061")
    assert parse_addresses("dns:///fleet.example:50051", "x") == ("dns:///fleet.example:50051",)
    assert parse_addresses("unix:/run/edgefleet.sock", "x") == ("unix:/run/edgefleet.sock",)
    config = load_agent_config(env={"EDGEFLEET_AGENT_ORCHESTRATOR": "a:1,b:2"})
    assert config.orchestrators == ("a:1", "b:2")
    assert config.enroll_addresses == ("a:1", "b:2")  # enrolment goes where streams go unless told
    assert AgentConfig(enroll_address="a:3,b:4").enroll_addresses == ("a:3", "b:4")
    for bad, why in (
        ("a:1,,b:2", "expected HOST:PORT"),
        ("a", "expected HOST:PORT"),
        ("a:70000", "out of range"),
    ):
        with pytest.raises(InvalidArgument, match=why) as refused:
            AgentConfig(orchestrator=bad)
        assert refused.value.message.startswith("orchestrator: ")
    with pytest.raises(InvalidArgument, match="enroll_address"):
        AgentConfig(enroll_address="x y:1")


async def test_the_loop_stays_on_an_address_while_it_holds_and_moves_on_when_it_fails() -> None:
    outcomes: list[bool | BaseException] = [True, Unavailable("down"), False, True, True]
    tried: list[str] = []
    calls = 0

    async def attempt() -> bool:
        nonlocal calls
        tried.append(loop.endpoints.current)
        outcome = outcomes[calls]
        calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def sleep(_: float) -> bool:
        return False

    loop = ConnectLoop(
        attempt,
        backoff=Backoff(0.1, 1.0, random.Random(0)),
        sleep=sleep,
        stopping=lambda: calls >= len(outcomes),
        addresses=("a:1", "b:2", "c:3"),
    )
    await loop.run()
    # every session that ends, established or not, sends the next one to the next replica, round robin
    assert tried == ["a:1", "b:2", "c:3", "a:1", "b:2"]
    assert loop.endpoints.moves == 4


def test_notices_fit_postgresql_payloads_and_decode_back() -> None:
    ids = tuple(f"rpi4-{i:08x}" for i in range(2000))
    notice = Notice(NoticeKind.DESIRED, ids, "replica-a")
    payloads = notice.payloads()
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    decoded = [Notice.decode(p) for p in payloads]
    assert all(d is not None and d.kind == NoticeKind.DESIRED and d.origin == "replica-a" for d in decoded)
    assert tuple(i for d in decoded if d is not None for i in d.device_ids) == ids
    assert all(d is not None and d.subject == "" for d in decoded)
    job = Notice(NoticeKind.JOB, ids, "replica-a", "bj-0123abcd")  # a job's notice carries its id
    back = [Notice.decode(p) for p in job.payloads()]
    assert all(len(p.encode()) < 8000 for p in job.payloads())
    assert all(d is not None and (d.kind, d.subject) == (NoticeKind.JOB, "bj-0123abcd") for d in back)
    assert tuple(i for d in back if d is not None for i in d.device_ids) == ids
    assert Notice.decode('{"k": "nonsense", "o": "x", "d": []}') is None
    assert Notice.decode("not json") is None
