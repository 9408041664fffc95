"""Agent configuration: ``[agent]`` in a TOML file, then EDGEFLEET_AGENT_* variables, then flags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefleet.core.config import load_layered
from edgefleet.core.errors import InvalidArgument

__all__ = ["AgentConfig", "Labels", "load_agent_config", "parse_addresses", "parse_labels"]

#: A device's labels (rollout targeting), sorted by key.
Labels = tuple[tuple[str, str], ...]
MAX_LABELS = 32
# The orchestrator's rules: keys are names (lowercase), values short and plain.
_LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9._-]{0,63}$")


def parse_addresses(value: str, source: str) -> tuple[str, ...]:
    """``HOST:PORT[,HOST:PORT...]`` (replicas, tried in turn) as a tuple; any gRPC target is one item
    (``dns:///name:PORT`` with several records: gRPC tries each record itself)."""
    items = tuple(part.strip() for part in value.split(","))
    for item in items:
        _, sep, port = item.rpartition(":")
        if item.startswith("unix:") and len(item) > 5:
            continue
        if not item or any(ch.isspace() for ch in item) or not sep or not port.isdigit():
            raise InvalidArgument(
                f"{source}: expected HOST:PORT, or several separated by commas (replicas), got {value!r}"
            )
        if not 0 < int(port) <= 65535:
            raise InvalidArgument(f"{source}: port {port} is out of range (1-65535) in {value!r}")
    return items


def parse_labels(value: object, source: str) -> Labels:
    """Labels from a TOML table ({site="berlin"}), a string ("site=berlin,rack=3") or KEY=VALUE items
    (repeated flags); ``source`` names where they came from in the error."""
    pairs: list[tuple[str, object]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise InvalidArgument(f"{source}: labels must be KEY=VALUE pairs, got {value!r}")
        for item in items:
            if isinstance(item, tuple) and len(item) == 2:
                pairs.append((str(item[0]), item[1]))
                continue
            text = str(item).strip()
            if not text:
                continue
            name, eq, given = text.partition("=")
            if not eq:
                raise InvalidArgument(f"{source}: label {text!r} is not KEY=VALUE (e.g. site=berlin)")
            pairs.append((name.strip(), given.strip()))
    labels: dict[str, str] = {}
    for key, raw in pairs:
        val = str(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else raw  # rack = 3
        if not _LABEL_KEY.match(key):
            raise InvalidArgument(
                f"{source}: invalid label key {key[:80]!r}: use 1-63 characters of a-z, 0-9, '.', '_' "
                "or '-', starting with a letter or digit"
            )
        if not isinstance(val, str) or not _LABEL_VALUE.match(val):
            raise InvalidArgument(
                f"{source}: invalid value {str(val)[:80]!r} for label {key!r}: use at most 63 characters of "
                "A-Z, a-z, 0-9, '.', '_' or '-'"
            )
        if key in labels and labels[key] != val:
            raise InvalidArgument(f"{source}: label {key!r} given twice ({labels[key]!r} and {val!r})")
        labels[key] = val
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"{source}: {len(labels)} labels; at most {MAX_LABELS}")
    return tuple(sorted(labels.items()))


@dataclass(frozen=True, slots=True)
class AgentConfig:
    #: The agents' port, HOST:PORT; several replicas' separated by commas (the agent stays on one while it
    #: answers and moves to the next when its stream fails).
    orchestrator: str = "127.0.0.1:50051"
    profile: str = ""
    data_dir: Path = Path(".edgefleet-agent")
    #: One-time enrolment token; needed only until the device has an identity.
    token: str = ""
    name: str = ""
    #: Local Inference API: HOST:PORT on loopback (port 0: any free port) or unix:/path.
    predict_listen: str = "127.0.0.1:0"
    #: The fast local path: Predict and Feedback as framed protobuf on this unix socket (none: off).
    local_socket: Path | None = None
    #: Replay workload: inferences per second over the variant's bundled samples (0: off).
    replay_rate: float = 0.0
    heartbeat_seconds: float = 10.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    threads: int = 1
    #: Telemetry window length (the orchestrator may ask for another; never below the sensor's minimum).
    window_seconds: float = 10.0
    #: Where sensors live (tests point it at a fake tree).
    sysfs_root: Path = Path("/sys")
    #: Real INA2xx shunt in µOhm when the driver's shunt_resistor is not set to it (0: trust the driver).
    ina_shunt_uohm: int = 0
    outbox_max_windows: int = 50_000
    #: Prometheus /metrics endpoint: HOST:PORT (port 0: any free port; written to DATA_DIR/metrics.addr).
    metrics_listen: str = "127.0.0.1:0"
    #: With no sensor: "cpu-time" (default) or "ops" (the variant's operation-count lower bound).
    estimator: str = "cpu-time"
    #: The orchestrator's API port (enrolment), when it differs from ``orchestrator`` (the agents' port);
    #: several separated by commas, tried in turn.
    enroll_address: str = ""
    #: The orchestrator's CA certificate (PEM), given with the token; needed to enrol with mTLS.
    ca_file: Path | None = None
    #: Plaintext and a bearer secret instead of mTLS: local development only (logged loudly).
    insecure: bool = False
    #: Artifact download chunk: what a kill or a cut link can cost in re-sent bytes (4-4096 KiB).
    download_chunk_kib: int = 1024
    #: Windows kept in memory while the disk refuses outbox writes (the oldest are dropped and counted).
    telemetry_memory_windows: int = 1000
    #: A deployment that failed for the device's sake (disk full, refused or cut download, stopped during
    #: the trial) is retried after this long, doubling up to ``deploy_retry_max_seconds``.
    deploy_retry_initial_seconds: float = 30.0
    deploy_retry_max_seconds: float = 600.0
    #: Labels sent at enrolment, for rollout targeting: [agent] labels = {site="berlin"},
    #: EDGEFLEET_AGENT_LABELS="site=berlin,rack=3" or --label site=berlin (repeatable).
    labels: Labels = ()

    @property
    def orchestrators(self) -> tuple[str, ...]:
        """The agents' port of every replica, in the order given."""
        return parse_addresses(self.orchestrator, "orchestrator")

    @property
    def enroll_addresses(self) -> tuple[str, ...]:
        """Where to enrol: the API ports given, or the agents' ports."""
        return (
            parse_addresses(self.enroll_address, "enroll_address")
            if self.enroll_address
            else self.orchestrators
        )

    def __post_init__(self) -> None:
        parse_addresses(self.orchestrator, "orchestrator")
        if self.enroll_address:
            parse_addresses(self.enroll_address, "enroll_address")
        if self.replay_rate < 0:
            raise InvalidArgument(f"replay_rate must be >= 0, got {self.replay_rate}")
        if not 0 < self.backoff_initial_seconds <= self.backoff_max_seconds:
            raise InvalidArgument("backoff: need 0 < backoff_initial_seconds <= backoff_max_seconds")
        if self.heartbeat_seconds <= 0:
            raise InvalidArgument(f"heartbeat_seconds must be > 0, got {self.heartbeat_seconds}")
        if self.estimator not in ("cpu-time", "ops"):
            raise InvalidArgument(f"estimator must be 'cpu-time' or 'ops', got {self.estimator!r}")
        if not 4 <= self.download_chunk_kib <= 4096:
            raise InvalidArgument(f"download_chunk_kib must be 4-4096, got {self.download_chunk_kib}")
        if self.threads < 1:
            raise InvalidArgument(f"threads must be >= 1, got {self.threads}")
        if self.telemetry_memory_windows < 1:
            raise InvalidArgument(
                f"telemetry_memory_windows must be >= 1, got {self.telemetry_memory_windows}"
            )
        if not 0 < self.deploy_retry_initial_seconds <= self.deploy_retry_max_seconds:
            raise InvalidArgument(
                "deploy retry: need 0 < deploy_retry_initial_seconds <= deploy_retry_max_seconds"
            )
        # a TOML table arrives as a mapping; the flag and variable layers are parsed where they are read
        object.__setattr__(self, "labels", parse_labels(self.labels, "[agent] labels"))


_ENV = {
    "orchestrator": "EDGEFLEET_AGENT_ORCHESTRATOR",
    "profile": "EDGEFLEET_AGENT_PROFILE",
    "data_dir": "EDGEFLEET_AGENT_DATA_DIR",
    "token": "EDGEFLEET_AGENT_TOKEN",
    "name": "EDGEFLEET_AGENT_NAME",
    "predict_listen": "EDGEFLEET_AGENT_PREDICT_LISTEN",
    "local_socket": "EDGEFLEET_AGENT_LOCAL_SOCKET",
    "replay_rate": "EDGEFLEET_AGENT_REPLAY_RATE",
    "window_seconds": "EDGEFLEET_AGENT_WINDOW_SECONDS",
    "sysfs_root": "EDGEFLEET_AGENT_SYSFS_ROOT",
    "ina_shunt_uohm": "EDGEFLEET_AGENT_INA_SHUNT_UOHM",
    "estimator": "EDGEFLEET_AGENT_ESTIMATOR",
    "metrics_listen": "EDGEFLEET_AGENT_METRICS_LISTEN",
    "enroll_address": "EDGEFLEET_AGENT_ENROLL_ADDRESS",
    "ca_file": "EDGEFLEET_AGENT_CA_FILE",
    "insecure": "EDGEFLEET_AGENT_INSECURE",
    "download_chunk_kib": "EDGEFLEET_AGENT_DOWNLOAD_CHUNK_KIB",
    "telemetry_memory_windows": "EDGEFLEET_AGENT_TELEMETRY_MEMORY_WINDOWS",
}
LABELS_ENV = "EDGEFLEET_AGENT_LABELS"


def load_agent_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """``overrides["labels"]``: the --label flags (KEY=VALUE items); they replace the variable's labels,
    which replace the file's."""
    layered = dict(overrides or {})
    flags = layered.pop("labels", None)
    if flags:
        layered["labels"] = parse_labels(flags, "--label")
    elif env and LABELS_ENV in env:
        layered["labels"] = parse_labels(env[LABELS_ENV], LABELS_ENV)
    return load_layered(AgentConfig, section="agent", env_names=_ENV, path=path, env=env, overrides=layered)
