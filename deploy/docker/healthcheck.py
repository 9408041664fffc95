"""Container health checks (the Dockerfiles' HEALTHCHECK). Exit 0 when healthy, else 1 with one line why.

    healthcheck.py grpc HOST:PORT [--ca FILE]   grpc.health.v1 Check answers SERVING (server TLS with the
                                                CA; without --ca, plaintext: an --insecure orchestrator)
    healthcheck.py http URL                     the URL answers 200 (the agent's /metrics endpoint)

Standard library and the packages the images already have (grpcio, grpcio-health-checking): nothing to
install, no shell needed.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

TIMEOUT_S = 5.0


def check_grpc(address: str, ca: Path | None) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if ca is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca.read_bytes()))
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S
            )
        except grpc.RpcError as exc:
            return f"{address}: {exc.code().name} {exc.details()}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return ""


def check_http(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            status = int(resp.status)
    except OSError as exc:
        return f"{url}: {exc}"
    return "" if status == 200 else f"{url}: HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    g = sub.add_parser("grpc", help="grpc.health.v1 Check")
    g.add_argument("address")
    g.add_argument("--ca", type=Path, default=None)
    h = sub.add_parser("http", help="HTTP 200")
    h.add_argument("url")
    args = parser.parse_args(argv)
    try:
        problem = check_grpc(args.address, args.ca) if args.kind == "grpc" else check_http(args.url)
    except OSError as exc:  # e.g. the CA file is not there yet
        problem = str(exc)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
