#!/usr/bin/env bash
# A throwaway single-node Ceph cluster for the tests: one monitor, one bluestore OSD on a sparse
# file and a RADOS Gateway (S3, beast frontend), all in DIR and all on 127.0.0.1.
#
#   rgw.sh start DIR   creates a cluster in DIR (which must be new or empty), starts it, creates
#                      the S3 user and prints the endpoint (http://127.0.0.1:PORT) as its last line
#   rgw.sh stop DIR    stops what `start DIR` started and leaves DIR in place (the global setup
#                      removes it); safe to run twice or on a half-started cluster
#
# It touches no other Ceph cluster: every tool gets `-c DIR/ceph.conf` (never /etc/ceph), every
# path (data, keys, sockets, logs) is in DIR, the monitor and the gateway listen on loopback ports
# the kernel found free (not 3300/6789/7480), and `stop` signals only the PIDs that `start`
# recorded, and only while their command line still names DIR's ceph.conf.
#
# The S3 user's keys come from RGW_ACCESS_KEY and RGW_SECRET_KEY (default: the suite's test/test).
# Server-side encryption works over plain HTTP: SSE-C, and SSE-KMS with one key of RGW's "testing"
# backend, named RGW_KMS_KEY_ID (default cassette-test-key) with random key bytes. Ceph 16 has no
# SSE-S3 backend: it accepts `x-amz-server-side-encryption: AES256` and stores the object
# unencrypted. Storage classes: STANDARD and STANDARD_IA (a pool of its own); RGW refuses others.
# Logs: DIR/log/{mon.a,osd.0,client.rgw.cassette}.log (RGW logs one line per request).
# RGW_BLOCK_GIB sizes the OSD's sparse file (default 8: the tests store little); the bench, which
# writes several copies of a 5 GB tree per run, sets more. Deleted objects' space comes back after
# RGW's garbage collection, which runs every minute here instead of after hours.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
case $command in start | stop) ;; *) usage ;; esac
if [ "$command" = stop ] && [ ! -d "$2" ]; then exit 0; fi
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
CONF=$DIR/ceph.conf
# Neither the environment nor /etc/ceph may point the tools at another cluster.
unset CEPH_ARGS CEPH_CONF

T0=$(date +%s.%N)
log() { printf "[rgw %5.1f s] %s\n" "$(awk -v t0="$T0" -v now="$(date +%s.%N)" "BEGIN { print now - t0 }")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# A recorded daemon is ours while it lives and its command line names our ceph.conf.
ours() { # pid
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$CONF"
}

# Signals the recorded daemons NAME... that are still ours, waits up to 2 s, then kills the rest.
stop_daemons() { # name...
  local name pid pids=() alive=()
  for name in "$@"; do
    pid=$(cat "$DIR/pids/$name.pid" 2>/dev/null) || continue
    if ours "$pid"; then pids+=("$pid"); fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 20); do
    alive=()
    for pid in "${pids[@]}"; do
      if ours "$pid"; then alive+=("$pid"); fi
    done
    [ ${#alive[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  log "still running 2 s after SIGTERM, killing: ${alive[*]}"
  kill -KILL "${alive[@]}" 2>/dev/null || true
}

stop() {
  # One after the other, each in well under a second: a gateway without its OSD, or an OSD
  # without its monitor, waits for seconds on requests that get no answer.
  stop_daemons rgw
  stop_daemons osd
  stop_daemons mon
  rm -f "$DIR"/pids/*.pid
}

if [ "$command" = stop ]; then
  stop
  exit 0
fi

for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl node; do
  command -v "$tool" >/dev/null || die "$tool is not installed (bash test/setup/prepare-machine.sh installs radosgw, ceph-mon and ceph-osd)"
done
[ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty: start wants a fresh directory"
# Unix sockets (the admin sockets in DIR/run) are limited to 107 bytes.
[ ${#DIR} -le 60 ] || die "$DIR is too long for Ceph's admin sockets (at most 60 characters)"
ACCESS_KEY=${RGW_ACCESS_KEY:-test}
SECRET_KEY=${RGW_SECRET_KEY:-test}
KMS_KEY_ID=${RGW_KMS_KEY_ID:-cassette-test-key}
KMS_KEY=$(head -c 32 /dev/urandom | base64)

# A failed start leaves nothing running.
trap 'status=$?; [ $status -eq 0 ] || stop; exit $status' EXIT
trap 'exit 130' INT TERM

mkdir -p "$DIR"/{pids,run,log,crash,mon,osd/ceph-0,rgw}

# Three loopback ports free right now (monitor v2 and v1, gateway), held together so they differ.
read -r MON_V2 MON_V1 RGW_PORT < <(node -e '
const net = require("node:net");
const servers = [0, 1, 2].map(() => net.createServer());
Promise.all(servers.map((s) => new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s.address().port)))))
  .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); });
')
ENDPOINT=http://127.0.0.1:$RGW_PORT
MON_ADDR="[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]"
FSID=$(cat /proc/sys/kernel/random/uuid)

cat >"$CONF" <<CONF
# Written by test/setup/rgw.sh: a single-node test cluster on loopback, thrown away after the run.
[global]
fsid = $FSID
mon_host = $MON_ADDR
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
mon_cluster_log_file = $DIR/log/cluster.log
crash_dir = $DIR/crash
# One OSD: one replica, few placement groups, no redundancy warnings.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# No ceph-mgr (S3 needs none): keep its absence a warning.
mon_mgr_mkfs_grace = 315360000
# The monitor batches map changes for 1 s by default; the gateway's first start makes ten of them
# one after another (create each pool, then tag it), and the OSD's boot a few more.
paxos_propose_interval = 0.05

[mon]
mon_data = $DIR/mon/ceph-a
keyring = $DIR/mon/ceph-a/keyring

[osd]
osd_data = $DIR/osd/ceph-0
keyring = $DIR/osd/ceph-0/keyring
osd_objectstore = bluestore
# Bluestore on a sparse file, osd_data/block; it grows with every byte written.
bluestore_block_create = true
bluestore_block_size = $((${RGW_BLOCK_GIB:-8} * 1024 * 1024 * 1024))
# A fresh file needs no check (it costs a second of the start).
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
# Each op queue shard takes ≈ 0.3 s to set up (5 on a rotational disk); two suffice on 2 cores.
osd_op_num_shards = 2

[client.admin]
keyring = $DIR/admin.keyring

[client.rgw.cassette]
keyring = $DIR/rgw/keyring
rgw_data = $DIR/rgw
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_thread_pool_size = 64
# Garbage collection of deleted objects within a minute or two (default: after two hours, hourly).
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
# Without TLS RGW answers 400 InvalidRequest to every server-side encryption header, unless told
# otherwise (on loopback nothing can listen in). The "testing" KMS backend takes its keys from here.
rgw_crypt_require_ssl = false
rgw_crypt_s3_kms_backend = testing
rgw_crypt_s3_kms_encryption_keys = $KMS_KEY_ID=$KMS_KEY
CONF

cephc() { timeout 30 ceph -c "$CONF" -n client.admin --connect-timeout 10 "$@"; }

start_daemon() { # name cmd...
  local name=$1
  shift
  # setsid: a Ctrl-C in the terminal reaches the test runner, whose teardown stops the daemons.
  setsid "$@" </dev/null >>"$DIR/log/$name.stdout" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
}

# Waits until CMD succeeds; fails early, with the logs' tails, when a daemon started so far exits.
wait_for() { # seconds what cmd...
  local seconds=$1 what=$2 end file
  shift 2
  end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    for file in "$DIR"/pids/*.pid; do
      ours "$(cat "$file")" && continue
      local name
      name=$(basename "$file" .pid)
      tail -n 20 "$DIR/log/$name.stdout" "$DIR"/log/*"$name"*.log >&2 2>/dev/null || true
      die "$name exited while waiting for $what (logs in $DIR/log)"
    done
    [ $SECONDS -lt $end ] || die "no $what after $seconds s (logs in $DIR/log)"
    sleep 0.2
  done
  log "$what"
}

log "creating cluster $FSID in $DIR: monitor on 127.0.0.1:$MON_V2 (v2) and :$MON_V1 (v1), S3 on $ENDPOINT"
ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$DIR/admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/admin.keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "$MON_ADDR" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring" >>"$DIR/log/mon-mkfs.out" 2>&1 \
  || die "ceph-mon --mkfs failed: $(tail -n 5 "$DIR/log/mon-mkfs.out")"
start_daemon mon ceph-mon -c "$CONF" -i a -f
wait_for 60 "monitor up" cephc mon stat

OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_SECRET=$(ceph-authtool --gen-print-key)
OSD_ID=$(echo "{\"cephx_secret\": \"$OSD_SECRET\"}" | cephc osd new "$OSD_UUID" -i -)
[ "$OSD_ID" = 0 ] || die "the new OSD got id '$OSD_ID', not 0"
ceph-authtool --create-keyring "$DIR/osd/ceph-0/keyring" --name osd.0 --add-key "$OSD_SECRET" >/dev/null
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$DIR/log/osd-mkfs.out" 2>&1 \
  || die "ceph-osd --mkfs failed: $(tail -n 5 "$DIR/log/osd-mkfs.out")"
log "OSD created"
start_daemon osd ceph-osd -c "$CONF" -i 0 -f
cephc auth get-or-create client.rgw.cassette mon 'allow rw' osd 'allow rwx' -o "$DIR/rgw/keyring"
# A gateway started before the OSD is up takes seconds longer to come up.
osd_up() { cephc osd dump | grep -q '^osd\.0 up '; }
wait_for 120 "OSD up" osd_up

# The storage class STANDARD_IA, in a pool of its own, besides STANDARD. radosgw-admin sets up the
# default zone and zone group on its first run (here: the user list), which the placement needs.
radmin() { timeout 60 radosgw-admin -c "$CONF" -n client.admin "$@" >/dev/null; }
radmin user list
radmin zonegroup placement add --rgw-zonegroup default --placement-id default-placement --storage-class STANDARD_IA
radmin zone placement add --rgw-zone default --placement-id default-placement --storage-class STANDARD_IA --data-pool default.rgw.buckets.standard-ia
log "storage class STANDARD_IA added"

start_daemon rgw radosgw -c "$CONF" -n client.rgw.cassette -f
rgw_up() { curl -fsS -o /dev/null "$ENDPOINT/"; }
wait_for 180 "gateway answering" rgw_up

timeout 60 radosgw-admin -c "$CONF" -n client.admin user create --uid=cassette --display-name="Cassette tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
# curl's SigV4 does not send x-amz-content-sha256, which RGW (like S3) requires.
s3_ok() {
  curl -fsS -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 --user "$ACCESS_KEY:$SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$ENDPOINT/"
}
wait_for 60 "S3 user answered" s3_ok
echo "$ENDPOINT"
