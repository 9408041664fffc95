"""What simulated agents did (counts that add up across worker processes), where they go, and failures
described so that equal ones count together."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import grpc

__all__ = ["Endpoints", "Tally", "describe"]

_ADDRESS = re.compile(r"(ipv4:)?\d{1,3}(\.\d{1,3}){3}:\d+|(ipv6:)?\[[0-9a-fA-F:.%]*\]:\d+")


@dataclass(frozen=True)
class Endpoints:
    """Where simulated agents go: the agents' port, the API port (enrolment) and the CA (None: insecure)."""

    agents: str
    api: str
    ca_pem: bytes | None = None


@dataclass
class Tally:
    """What one process's agents did. Plain numbers and strings: it pickles, so a worker process can send
    it to the parent, which adds the workers' tallies up."""

    agents: int = 0
    enrolled: int = 0
    #: Streams up right now, and agents whose stream came up at least once.
    connected: int = 0
    ever_connected: int = 0
    #: Agents that committed a generation newer than the one they had at the last mark (see SimAgent.mark).
    reached: int = 0
    committed: int = 0
    windows_sent: int = 0
    windows_acked: int = 0
    #: Acknowledgements that asked for a pause (telemetry back-pressure), which the agents then keep.
    backpressure_advice: int = 0
    #: Windows neither acknowledged nor refused when the agents stopped (after their drain; see stop()).
    windows_unanswered: int = 0
    artifacts_bytes: int = 0
    reconnects: int = 0
    #: Why streams failed or ended ("CODE: details", addresses left out), and why enrolments failed.
    stream_errors: Counter[str] = field(default_factory=Counter)
    enroll_errors: Counter[str] = field(default_factory=Counter)
    #: Artifact downloads that failed (the generation is then reported failed, as a real agent does).
    download_errors: Counter[str] = field(default_factory=Counter)
    #: Agents that gave up enrolling (an error that another try would not change).
    enroll_failed: int = 0
    #: Deployment problems (artifact digest or signature).
    errors: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> Tally:
        return Tally(
            agents=self.agents + other.agents,
            enrolled=self.enrolled + other.enrolled,
            connected=self.connected + other.connected,
            ever_connected=self.ever_connected + other.ever_connected,
            reached=self.reached + other.reached,
            committed=self.committed + other.committed,
            windows_sent=self.windows_sent + other.windows_sent,
            windows_acked=self.windows_acked + other.windows_acked,
            backpressure_advice=self.backpressure_advice + other.backpressure_advice,
            windows_unanswered=self.windows_unanswered + other.windows_unanswered,
            artifacts_bytes=self.artifacts_bytes + other.artifacts_bytes,
            reconnects=self.reconnects + other.reconnects,
            stream_errors=self.stream_errors + other.stream_errors,
            enroll_errors=self.enroll_errors + other.enroll_errors,
            download_errors=self.download_errors + other.download_errors,
            enroll_failed=self.enroll_failed + other.enroll_failed,
            errors=self.errors + other.errors,
        )


def describe(exc: grpc.aio.AioRpcError) -> str:
    """``CODE: details`` with addresses and ports left out, so that equal failures count together."""
    details = _ADDRESS.sub("ADDR", exc.details() or "")
    return f"{exc.code().name}: {details[:160]}"
