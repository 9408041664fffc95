#!/bin/sh
# The compose `certs` one-shot (runs as root in the orchestrator image), and what its test runs.
#
# `edgefleet certs init` writes ca.key, server.key and admin.token as 0600 files of the user that runs it.
# The orchestrator runs as an unprivileged user, so everything under the data directory is handed to that
# user (EDGEFLEET_OWNER, default edgefleet:edgefleet, uid/gid 10001 in both images); the CA certificate
# (public) is copied 0644 to the volume the agents mount read-only.
#
# Idempotent: an existing CA is kept (the devices trust it), only ownership and the copy are refreshed.
set -eu
data_dir=${EDGEFLEET_DATA_DIR:-/var/lib/edgefleet}
ca_dir=${EDGEFLEET_CA_DIR:-/ca}
owner=${EDGEFLEET_OWNER:-edgefleet:edgefleet}
# The names agents and the CLI dial: the compose service names (a second replica too) and loopback.
hosts=${EDGEFLEET_CERT_HOSTS:-orchestrator orchestrator-2 localhost 127.0.0.1}

if [ ! -f "$data_dir/tls/ca.key" ]; then
  set --
  for host in $hosts; do set -- "$@" --host "$host"; done
  edgefleet certs init --data-dir "$data_dir" "$@"
fi
chown -R "$owner" "$data_dir"
mkdir -p "$ca_dir"
cp "$data_dir/tls/ca.crt" "$ca_dir/ca.crt"
chmod 0644 "$ca_dir/ca.crt"
echo "certs: $data_dir owned by $owner; CA certificate in $ca_dir/ca.crt"
