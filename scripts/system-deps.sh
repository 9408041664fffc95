#!/usr/bin/env bash
# System packages the suites use, as COMMAND=DEBIAN_PACKAGE pairs. Default: Debian's prometheus (a real
# Prometheus and promtool for the monitoring and alert-rule tests), docker-compose (validates
# docker-compose.yml without a Docker engine; it brings python3-docker, whose .dockerignore matcher the
# deploy tests use), systemd (systemd-analyze verify/security for the agent's unit) and postgresql (whose
# server the store contract suite starts itself). `make bench` asks for nginx, curl and postgresql. Installs
# only what is missing; needs root (CI runs as root) or sudo. Where it cannot install, it says so and the
# suites that need them skip (in CI they fail).
set -euo pipefail
[ "$#" -gt 0 ] || set -- prometheus=prometheus promtool=prometheus docker-compose=docker-compose \
  systemd-analyze=systemd initdb=postgresql
# Debian keeps the PostgreSQL server binaries off PATH, in /usr/lib/postgresql/VERSION/bin.
have() { command -v "$1" >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }
missing=()
for pair in "$@"; do
  have "${pair%%=*}" || missing+=("${pair#*=}")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
if ! command -v apt-get >/dev/null; then
  echo "system-deps: no apt-get here; install ${packages[*]} yourself (the suites that need them skip)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "system-deps: not root and no sudo; ${packages[*]} missing, the suites that need them skip" >&2; exit 0
  fi
fi
echo "system-deps: installing ${packages[*]}"
# The tests start their own throw-away servers: no system-wide cluster on port 5432, please.
if printf '%s\n' "${packages[@]}" | grep -qx postgresql; then
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/edgefleet-tests.conf >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
