#!/usr/bin/env bash
# What the tests need from the machine, installed or started when missing (idempotent; CI runs it
# before `npm test`, and so does the README's test command):
# - PostgreSQL on 127.0.0.1:5432 (started with pg_ctlcluster when down);
# - setfattr/getfattr (attr), setfacl/getfacl (acl) and setcap (libcap2-bin), with which the
#   fidelity tests make and check extended attributes, ACLs and capabilities;
# - Ceph's monitor, OSD and RADOS Gateway (radosgw, ceph-mon, ceph-osd; ceph-common comes with
#   them), from which the global setup runs a throwaway single-node cluster (test/setup/rgw.sh,
#   which also needs curl).
#   Installing them starts no daemon: they only enable Ceph's systemd targets, which have no
#   instances to start (≈ 60 MB download, 60 packages on a bookworm image, ≈ 25 s);
# - age and openssl, which README examples and the stock-tools restore use;
# - Chromium (Debian's chromium) and a font for it (fonts-liberation), in which the report test
#   renders `cassette report`'s page headless (test/e2e/report.test.ts, through playwright-core).
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
# age: the stock-tools restore of encrypted snapshots (`aws s3 cp … | age -d | zstd -dc | tar -x`) is tested.
command -v age >/dev/null || need+=(age)
# openssl: the README's SSE-C example makes its key with `openssl rand` (test/e2e/readme-examples.test.ts runs it).
command -v openssl >/dev/null || need+=(openssl)
# chromium: the report's page is rendered, clicked, printed and screenshotted in it.
command -v chromium >/dev/null || need+=(chromium)
[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || need+=(fonts-liberation)
for tool in radosgw:radosgw radosgw-admin:radosgw ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common ceph-authtool:ceph-common monmaptool:ceph-common curl:curl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  export DEBIAN_FRONTEND=noninteractive
  # Wait for a concurrent apt (another job on the machine) instead of failing on its lock.
  install=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}")
  "${install[@]}" || { apt-get update -q -o DPkg::Lock::Timeout=300 && "${install[@]}"; }
fi
