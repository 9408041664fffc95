"""Orchestrator configuration: TOML file, then environment, then flags; loaded once, frozen.

    [server]
    listen = "127.0.0.1:50051"       # agents (mTLS)
    api_listen = "127.0.0.1:50052"   # enrolment, admin API, health (server TLS)
    metrics_listen = "127.0.0.1:9464"   # Prometheus /metrics ("" for none; port 0: any free port)
    insecure = false                 # plaintext: local development only
    data_dir = "/var/lib/edgefleet"
    store = "postgresql://edgefleet@db.example:5432/edgefleet"   # default: sqlite:///DATA_DIR/edgefleet.sqlite
    telemetry_retention_days = 30    # older windows are folded into hourly aggregates (0: keep all)
    shared_dir = "/srv/edgefleet"    # replicas: CA (tls/), signing keys (keys/), artifacts (objects/)
    replica_id = "orch-a"            # default: host name and process id
    lease_seconds = 10               # a dead replica's rollouts and devices move on after this long
    artifact_listen = "0.0.0.0:50053"                    # HTTPS artifact origin ("" off)
    artifact_url = "https://orch.example:50053/artifacts"  # what agents are told ("" : from artifact_listen)
    max_message_mb = 64
    build_workers = 1

    profiles = ["/etc/edgefleet/profiles"]   # files or directories of *.toml

Environment: EDGEFLEET_LISTEN, EDGEFLEET_API_LISTEN, EDGEFLEET_METRICS_LISTEN, EDGEFLEET_DATA_DIR,
EDGEFLEET_STORE, EDGEFLEET_MAX_MESSAGE_MB, EDGEFLEET_BUILD_WORKERS, EDGEFLEET_PROFILES (paths separated
by ':'), EDGEFLEET_TELEMETRY_RETENTION_DAYS, EDGEFLEET_SHARED_DIR, EDGEFLEET_REPLICA_ID,
EDGEFLEET_LEASE_SECONDS, EDGEFLEET_ARTIFACT_LISTEN, EDGEFLEET_ARTIFACT_URL (and one EDGEFLEET_ variable
per setting: see ``_ENV``).

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefleet.core.config import load_layered
from edgefleet.core.errors import InvalidArgument
from edgefleet.core.ports import split_listen

__all__ = ["ServerConfig", "load_config"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:50051"
    data_dir: Path = Path(".edgefleet")
    max_message_mb: int = 64
    build_workers: int = 1
    #: User profiles: TOML files or directories of them, added to (or replacing) the built-ins.
    profiles: tuple[Path, ...] = ()
    #: Seconds a newly deployed variant stays on trial on the device before it commits.
    trial_seconds: float = 30.0
    #: Heartbeat interval asked of agents.
    heartbeat_seconds: float = 10.0
    #: Telemetry window length asked of agents (they never go below their sensor's minimum).
    window_seconds: float = 10.0
    #: Seconds between the agents' canary evaluations on their bundled labelled samples (0: off).
    canary_seconds: float = 60.0
    #: A multi-use enrolment token valid for a year (labs, docker-compose); "" for none. Prefer one-time ones.
    bootstrap_token: str = ""
    #: Prometheus /metrics endpoint HOST:PORT ("" turns it off; port 0: any free port).
    metrics_listen: str = "127.0.0.1:9464"
    #: How often running rollouts are analysed and advanced.
    rollout_tick_seconds: float = 2.0
    #: Telemetry batches waiting to be stored before devices are told to back off (RESOURCE_EXHAUSTED).
    telemetry_queue_batches: int = 1024
    #: FetchArtifact chunks in flight at once, whatever the number of devices downloading (each waits its
    #: turn): bounds the memory a fleet-wide deploy takes (``server/transfers.py``).
    artifact_transfer_slots: int = 64
    #: Seconds a device may take to receive one chunk before its transfer ends (it resumes from its offset).
    artifact_send_timeout_seconds: float = 60.0
    #: Enrolment, admin API and health: HOST:PORT with server-only TLS (agents have no certificate yet
    #: when they enrol). "" serves them on ``listen`` too (``insecure`` only).
    api_listen: str = "127.0.0.1:50052"
    #: Plaintext, no client certificates, device bearer secrets: local development only (logged loudly).
    insecure: bool = False
    #: Validity of device certificates; agents renew theirs when a third of it is left.
    device_cert_days: float = 365.0
    #: Where `edgefleet certs init` put the CA, the server certificate and the admin token.
    tls_dir: Path | None = None
    #: The store's URL: sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST:PORT/DB ("": the SQLite file
    #: edgefleet.sqlite in data_dir). See ``store_url``.
    store: str = ""
    #: Telemetry windows older than this are folded into hourly aggregates and deleted (0: keep them all).
    telemetry_retention_days: float = 30.0
    #: What every replica must share: the CA (``tls/``, unless ``tls_dir``), the signing keys (``keys/``)
    #: and the artifacts (``objects/``). Default: ``data_dir`` (one replica).
    shared_dir: Path | None = None
    #: This process's name among the replicas (presence and leases); "": host name and process id.
    replica_id: str = ""
    #: Lifetime of leases (a rollout, the fleet gauges, a replica's liveness): a replica that dies without
    #: releasing them is taken over after this long. Renewed every third of it.
    lease_seconds: float = 10.0
    #: HOST:PORT of the HTTPS artifact origin (the API port's certificate; devices authenticate with their
    #: client certificate, or their bearer secret when insecure); "" serves artifacts over gRPC only.
    artifact_listen: str = ""
    #: Base URL agents download artifacts from (``URL/<sha256>``): this origin as agents reach it, or any
    #: other (nginx, a CDN, an S3-compatible store). "": derived from ``artifact_listen``'s bound address.
    artifact_url: str = ""

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 1024 * 1024

    @property
    def shared_path(self) -> Path:
        return self.shared_dir or self.data_dir

    @property
    def tls_path(self) -> Path:
        return self.tls_dir or self.shared_path / "tls"

    @property
    def keys_path(self) -> Path:
        return self.shared_path / "keys"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "edgefleet.sqlite"

    @property
    def store_url(self) -> str:
        """``store``, or the default: the SQLite file in ``data_dir``."""
        return self.store or f"sqlite:///{self.db_path}"

    def __post_init__(self) -> None:
        for field, value in (
            ("listen", self.listen),
            ("api_listen", self.api_listen),
            ("metrics_listen", self.metrics_listen),
            ("artifact_listen", self.artifact_listen),
        ):
            if field == "api_listen" and not value and not self.insecure:
                raise InvalidArgument("api_listen: required unless insecure (enrolment needs its own port)")
            if not value and field != "listen":
                continue  # api_listen: the agents' port serves the API; metrics/artifact_listen: none
            try:
                split_listen(value)
            except InvalidArgument as exc:
                raise InvalidArgument(f"{field}: {exc.message}") from None
        if not 1 <= self.max_message_mb <= 1024:
            raise InvalidArgument(f"max_message_mb: expected 1-1024, got {self.max_message_mb}")
        if not 0 < self.trial_seconds <= 86400:
            raise InvalidArgument(f"trial_seconds: expected (0, 86400], got {self.trial_seconds}")
        if not 0 < self.heartbeat_seconds <= 3600:
            raise InvalidArgument(f"heartbeat_seconds: expected (0, 3600], got {self.heartbeat_seconds}")
        if not 1 <= self.telemetry_queue_batches <= 1_000_000:
            raise InvalidArgument(
                f"telemetry_queue_batches: expected 1-1000000, got {self.telemetry_queue_batches}"
            )
        if not 1 <= self.artifact_transfer_slots <= 100_000:
            raise InvalidArgument(
                f"artifact_transfer_slots: expected 1-100000, got {self.artifact_transfer_slots}"
            )
        if not 0 < self.artifact_send_timeout_seconds <= 3600:
            raise InvalidArgument(
                f"artifact_send_timeout_seconds: expected (0, 3600], got {self.artifact_send_timeout_seconds}"
            )
        if not 0 < self.device_cert_days <= 3650:
            raise InvalidArgument(f"device_cert_days: expected (0, 3650], got {self.device_cert_days}")
        if not 1 <= self.build_workers <= 64:
            raise InvalidArgument(f"build_workers: expected 1-64, got {self.build_workers}")
        if not 0 <= self.telemetry_retention_days <= 36500:
            raise InvalidArgument(
                f"telemetry_retention_days: expected 0-36500, got {self.telemetry_retention_days}"
            )
        if not 0.5 <= self.lease_seconds <= 3600:
            raise InvalidArgument(f"lease_seconds: expected 0.5-3600, got {self.lease_seconds}")
        if len(self.replica_id) > 64 or not all(ch.isalnum() or ch in "-_.:" for ch in self.replica_id):
            raise InvalidArgument(
                f"replica_id: at most 64 letters, digits, '-', '_', '.' or ':', got {self.replica_id[:80]!r}"
            )
        if self.artifact_url and not self.artifact_url.startswith(("https://", "http://")):
            raise InvalidArgument(
                f"artifact_url: expected https://HOST[:PORT]/PATH, got {self.artifact_url!r}"
            )
        if self.store:
            from edgefleet.orchestrator.store.engine import parse_store_url

            parse_store_url(self.store)  # InvalidArgument naming the problem, the password masked


_ENV = {
    "listen": "EDGEFLEET_LISTEN",
    "data_dir": "EDGEFLEET_DATA_DIR",
    "max_message_mb": "EDGEFLEET_MAX_MESSAGE_MB",
    "build_workers": "EDGEFLEET_BUILD_WORKERS",
    "profiles": "EDGEFLEET_PROFILES",
    "trial_seconds": "EDGEFLEET_TRIAL_SECONDS",
    "heartbeat_seconds": "EDGEFLEET_HEARTBEAT_SECONDS",
    "window_seconds": "EDGEFLEET_WINDOW_SECONDS",
    "rollout_tick_seconds": "EDGEFLEET_ROLLOUT_TICK_SECONDS",
    "canary_seconds": "EDGEFLEET_CANARY_SECONDS",
    "metrics_listen": "EDGEFLEET_METRICS_LISTEN",
    "bootstrap_token": "EDGEFLEET_BOOTSTRAP_TOKEN",
    "api_listen": "EDGEFLEET_API_LISTEN",
    "insecure": "EDGEFLEET_INSECURE",
    "tls_dir": "EDGEFLEET_TLS_DIR",
    "telemetry_queue_batches": "EDGEFLEET_TELEMETRY_QUEUE_BATCHES",
    "artifact_transfer_slots": "EDGEFLEET_ARTIFACT_TRANSFER_SLOTS",
    "artifact_send_timeout_seconds": "EDGEFLEET_ARTIFACT_SEND_TIMEOUT_SECONDS",
    "device_cert_days": "EDGEFLEET_DEVICE_CERT_DAYS",
    "store": "EDGEFLEET_STORE",
    "telemetry_retention_days": "EDGEFLEET_TELEMETRY_RETENTION_DAYS",
    "shared_dir": "EDGEFLEET_SHARED_DIR",
    "replica_id": "EDGEFLEET_REPLICA_ID",
    "lease_seconds": "EDGEFLEET_LEASE_SECONDS",
    "artifact_listen": "EDGEFLEET_ARTIFACT_LISTEN",
    "artifact_url": "EDGEFLEET_ARTIFACT_URL",
}


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Defaults < TOML ``[server]`` < environment < overrides (flags); ``None`` overrides are ignored."""
    return load_layered(
        ServerConfig, section="server", env_names=_ENV, path=path, env=env, overrides=overrides
    )
