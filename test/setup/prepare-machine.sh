#!/usr/bin/env bash
# What the tests need from the machine, installed or started when missing (idempotent; CI runs it
# before `npm test`, and so does the README's test command):
# - PostgreSQL on 127.0.0.1:5432 (started with pg_ctlcluster when down);
# - setfattr/getfattr (attr), setfacl/getfacl (acl) and setcap (libcap2-bin), with which the
#   fidelity tests make and check extended attributes, ACLs and capabilities.
set -euo pipefail

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 1
  done
fi
pg_isready -h 127.0.0.1 -p 5432

need=()
command -v setfattr >/dev/null || need+=(attr)
command -v setfacl >/dev/null || need+=(acl)
command -v setcap >/dev/null || need+=(libcap2-bin)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" || { apt-get update -q && apt-get install -y -q "${need[@]}"; }
fi
