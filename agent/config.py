"""Agent configuration: ``[agent]`` in a TOML file, then EDGEFLEET_AGENT_* variables, then flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefleet.core.config import load_layered
from edgefleet.core.errors import InvalidArgument

__all__ = ["AgentConfig", "load_agent_config"]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    orchestrator: str = "127.0.0.1:50051"
    profile: str = ""
    data_dir: Path = Path(".edgefleet-agent")
    #: One-time enrolment token; needed only until the device has an identity.
    token: str = ""
    name: str = ""
    #: Local Inference API: HOST:PORT on loopback (port 0: any free port) or unix:/path.
    predict_listen: str = "127.0.0.1:0"
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
    #: The orchestrator's API port (enrolment), when it differs from ``orchestrator`` (the agents' port).
    enroll_address: str = ""
    #: The orchestrator's CA certificate (PEM), given with the token; needed to enrol with mTLS.
    ca_file: Path | None = None
    #: Plaintext and a bearer secret instead of mTLS: local development only (logged loudly).
    insecure: bool = False
    #: Artifact download chunk: what a kill or a cut link can cost in re-sent bytes (4-4096 KiB).
    download_chunk_kib: int = 1024

    def __post_init__(self) -> None:
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


_ENV = {
    "orchestrator": "EDGEFLEET_AGENT_ORCHESTRATOR",
    "profile": "EDGEFLEET_AGENT_PROFILE",
    "data_dir": "EDGEFLEET_AGENT_DATA_DIR",
    "token": "EDGEFLEET_AGENT_TOKEN",
    "name": "EDGEFLEET_AGENT_NAME",
    "predict_listen": "EDGEFLEET_AGENT_PREDICT_LISTEN",
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
}


def load_agent_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    return load_layered(AgentConfig, section="agent", env_names=_ENV, path=path, env=env, overrides=overrides)
