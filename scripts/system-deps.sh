#!/usr/bin/env bash
# System packages the test suites use: Debian's prometheus (prometheus + promtool) for the
# monitoring tests. Installs only what is missing; needs root (CI runs as root) or sudo.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "system-deps: no apt-get here; install prometheus and promtool yourself (the monitoring tests skip without them)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "system-deps: not root and no sudo; the monitoring tests will skip" >&2; exit 0
  fi
fi
echo "system-deps: installing Debian's prometheus (for the monitoring tests)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
