"""The store contract, part 1: families, variants, tokens, bundles, events, blocks, errors and URLs.

Every test runs on SQLite and on a real PostgreSQL (see conftest.py)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgefleet.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from edgefleet.orchestrator.fleet.model import BundleRecord, EnrollmentToken
from edgefleet.orchestrator.rollout.model import Event
from edgefleet.orchestrator.store import Family, Store, mask_url, open_store
from tests.helpers.cards import card
from tests.helpers.postgres import PostgresServer


def _family(model: str = "digits", created: float = 1.0) -> Family:
    return Family(model, "e" * 64, ("zero", "one"), (8, 8, 1), created)


def test_families_first_writer_wins(store: Store) -> None:
    first = store.put_family(_family())
    assert first == _family()
    assert store.put_family(dataclasses.replace(_family(), eval_sha256="f" * 64)) == first
    store.put_family(_family("audio", 2.0))
    assert store.get_family("digits") == first
    assert store.get_family("nope") is None
    assert [f.model for f in store.list_families()] == ["audio", "digits"]


def test_variants_atomic_first_writer_wins_prefix_and_order(store: Store) -> None:
    store.put_family(_family())
    store.put_family(_family("audio"))
    a = dataclasses.replace(card("a", base="w0.5"), model="digits")
    b = dataclasses.replace(card("b", base="w1.0", recipe="fp32"), model="digits")
    c = dataclasses.replace(card("c"), model="audio")
    assert store.put_variants([a, b, c]) == [a, b, c]
    changed = dataclasses.replace(a, recipe="other")
    assert store.put_variants([changed]) == [a]  # the stored card stays
    assert store.get_variant(a.variant_id) == a
    assert store.get_variant("0" * 64) is None
    assert store.find_variants(a.variant_id[:6]) == [a]
    assert store.find_variants(a.variant_id[:6].upper()) == []  # ids are lowercase hex: exact match
    assert [v.variant_id for v in store.list_variants("digits")] == [a.variant_id, b.variant_id]
    assert len(store.list_variants()) == 3
    # all or none: a card of an unknown family fails the whole call
    orphan = dataclasses.replace(card("d"), model="nobody")
    fresh = dataclasses.replace(card("e"), model="digits")
    with pytest.raises(FailedPrecondition, match="refused"):
        store.put_variants([fresh, orphan])
    assert store.get_variant(fresh.variant_id) is None


def test_tokens_are_used_atomically(store: Store) -> None:
    store.put_token(EnrollmentToken("a" * 64, "rpi4", expires=100.0, uses_left=1))
    store.put_token(EnrollmentToken("b" * 64, "", expires=100.0, uses_left=2))
    assert store.token_exists("a" * 64)
    assert not store.token_exists("c" * 64)
    with pytest.raises(FailedPrecondition, match="refused"):
        store.put_token(EnrollmentToken("a" * 64, "", expires=100.0, uses_left=1))
    assert store.use_token("a" * 64, now=200.0) is None  # expired
    assert store.use_token("b" * 64, now=1.0) == EnrollmentToken("b" * 64, "", 100.0, 1)
    # 16 threads race for a one-time token: exactly one gets it
    with ThreadPoolExecutor(16) as pool:
        grants = list(pool.map(lambda _: store.use_token("a" * 64, now=1.0), range(16)))
    assert [g for g in grants if g is not None] == [EnrollmentToken("a" * 64, "rpi4", 100.0, 0)]
    assert store.use_token("a" * 64, now=1.0) is None


def test_a_token_for_another_profile_is_returned_unspent(store: Store) -> None:
    store.put_token(EnrollmentToken("p" * 64, "rpi4", expires=100.0, uses_left=1))
    store.put_token(EnrollmentToken("q" * 64, "", expires=100.0, uses_left=1))
    refused = store.use_token("p" * 64, now=1.0, profile="jetson")
    assert refused == EnrollmentToken("p" * 64, "rpi4", 100.0, 1)  # the caller refuses it; still unspent
    assert store.use_token("p" * 64, now=1.0, profile="rpi4") == EnrollmentToken("p" * 64, "rpi4", 100.0, 0)
    assert store.use_token("p" * 64, now=1.0, profile="rpi4") is None  # spent
    assert store.use_token("q" * 64, now=1.0, profile="jetson") == EnrollmentToken("q" * 64, "", 100.0, 0)
    assert store.use_token("q" * 64, now=1.0, profile="jetson") is None


def test_one_time_token_race_between_replicas(store: Store, open_replica: Callable[[], Store]) -> None:
    replicas = [store, open_replica(), open_replica()]
    store.put_token(EnrollmentToken("t" * 64, "", expires=100.0, uses_left=1))
    start = threading.Barrier(len(replicas))

    def use(s: Store) -> EnrollmentToken | None:
        start.wait()
        return s.use_token("t" * 64, now=1.0)

    with ThreadPoolExecutor(len(replicas)) as pool:
        grants = list(pool.map(use, replicas))
    assert sum(g is not None for g in grants) == 1


def test_bundles_first_writer_wins(store: Store) -> None:
    store.put_family(_family())
    v = dataclasses.replace(card("a"), model="digits")
    store.put_variants([v])
    first = BundleRecord(v.variant_id, "s" * 64, 3 * 2**31, b"\x00\xffsig", "key-1")
    assert store.put_bundle(first) == first  # sizes beyond 32 bits, bytes intact
    assert store.put_bundle(dataclasses.replace(first, key_id="key-2")) == first
    assert store.get_bundle(v.variant_id) == first
    assert store.get_bundle("0" * 64) is None


def test_events_ids_filters_and_counts(store: Store) -> None:
    added = [
        store.add_event(Event("rollout.started", "go", 1.0, rollout_id="ro-1", model="digits")),
        store.add_event(
            Event("rollout.device_failed", "x", 2.0, rollout_id="ro-1", device_id="d1", rule="latency")
        ),
        store.add_event(
            Event("rollout.device_failed", "y", 3.0, rollout_id="ro-2", device_id="d2", rule="latency")
        ),
        store.add_event(
            Event("rollout.device_failed", "z", 4.0, rollout_id="ro-2", rule="energy", details={"j": 1.5})
        ),
    ]
    ids = [e.event_id for e in added]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    assert ids[0] > 0
    assert store.list_events() == added
    assert store.list_events(kind="rollout.device_failed", rollout_id="ro-2") == added[2:]
    assert store.list_events(device_id="d1") == [added[1]]
    assert store.list_events(model="digits") == [added[0]]
    assert store.list_events(after_id=ids[1], limit=1) == [added[2]]
    assert store.list_events()[3].details == {"j": 1.5}
    assert store.event_counts() == {
        ("rollout.started", ""): 1,
        ("rollout.device_failed", "latency"): 2,
        ("rollout.device_failed", "energy"): 1,
    }


def test_blocks(store: Store) -> None:
    store.block("digits", "rpi4", "v1", "too slow", 1.0)
    store.block("digits", "rpi4", "v1", "too slow again", 2.0)  # replaced, not duplicated
    store.block("digits", "jetson", "v2", "wrong", 1.0)
    assert store.blocked("digits", "rpi4") == {"v1": "too slow again"}
    assert store.unblock("digits", "rpi4", "v1") == 1
    assert store.unblock("digits", "rpi4", "v1") == 0
    assert store.blocked("digits", "rpi4") == {}
    assert store.blocked("digits", "jetson") == {"v2": "wrong"}


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:pw@host/db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://u:pw@host",
        "not a url at all",
    ],
)
def test_bad_store_urls_are_refused_with_the_password_masked(url: str) -> None:
    with pytest.raises(InvalidArgument, match="store:") as caught:
        open_store(url)
    assert "pw" not in caught.value.message


def test_mask_url() -> None:
    assert mask_url("postgresql://edge:s3cr3t@db:5432/fleet") == "postgresql://edge:***@db:5432/fleet"
    assert mask_url("sqlite:////var/lib/edgefleet/edgefleet.sqlite").endswith("edgefleet.sqlite")
    assert "s3cr3t" not in mask_url("postgresql://edge:s3cr3t@[::1")  # not even a URL


def test_postgres_errors_never_show_the_password(pg_server: PostgresServer) -> None:
    missing = pg_server.url("no_such_database", password="s3cr3t-pw")
    with pytest.raises(Unavailable, match="unreachable") as caught:
        open_store(missing, busy_timeout_s=2.0)
    assert "s3cr3t-pw" not in caught.value.message
    assert "***" in caught.value.message
    closed = f"postgresql://edgefleet:s3cr3t-pw@127.0.0.1:{_closed_port()}/x"
    with pytest.raises(Unavailable, match=r"nothing was written, retry") as caught:
        open_store(closed, busy_timeout_s=2.0)
    assert "s3cr3t-pw" not in caught.value.message


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
