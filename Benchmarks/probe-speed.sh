#!/usr/bin/env bash
# `tcpcraft probe --all` against a Linux listener in a network namespace: all cases at once (the
# default) against one at a time (`--sequential`), same seed, same target. Reports both wall
# times, their ratio, and whether the verdicts agree case by case (issue 12, point 7: "under 5 s,
# with the same verdicts as a sequential run").
#
# The script makes its own namespace and veth pair (names carry the pid), a kernel listener in the
# namespace (python3; never accepts, 2 KiB receive buffer, backlog 1024), and removes all of it
# on exit. Traffic goes only to the namespace's address. Probes leave from an address no
# interface owns (10.213.N.99, --no-guard; the namespace has a static neighbour entry for it, and
# forwarding is off on our veth, kernel fact 7).
#
# Three modes: --sequential; the default (at most 12 cases hold state at the listener, under a
# backlog of 16); --parallel 64 (this listener's backlog is 1024, so every case fits at once).
#
# Usage (as root):  Benchmarks/probe-speed.sh [TIMEOUT_SECONDS]   (default 1, the CLI's default)
# Environment: PROBE_ROUNDS=N (default 3; medians reported); TCPCRAFT=path uses that binary.
# Need not run in CI. Prints a markdown table.
set -u -o pipefail

TIMEOUT=${1:-1}
ROUNDS=${PROBE_ROUNDS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=$(( $$ % 250 ))
NS="tcprobe-$$"
HOSTIF="tph$$"
NSIF="tpn$$"
PREFIX="10.213.$N"
HOSTMAC="02:74:70:00:00:01"
NSMAC="02:74:70:00:00:02"
PORT=18080
WORK=$(mktemp -d /tmp/tcpcraft-probe-speed.XXXXXX)
LISTENER_PID=""

log() { printf '%s\n' "$*" >&2; }
die() { log "probe-speed.sh: $*"; exit 1; }

cleanup() {
  if [ -n "$LISTENER_PID" ]; then kill "$LISTENER_PID" 2>/dev/null; wait "$LISTENER_PID" 2>/dev/null; fi
  ip link del "$HOSTIF" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf -- "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || die "run as root (raw sockets, a namespace, a veth)"
command -v python3 >/dev/null || die "needs python3 (the listener)"
TCPCRAFT=${TCPCRAFT:-}
if [ -z "$TCPCRAFT" ]; then
  (cd "$ROOT" && swift build -c release --product tcpcraft >/dev/null 2>&1) || die "swift build failed"
  TCPCRAFT="$ROOT/.build/release/tcpcraft"
fi
[ -x "$TCPCRAFT" ] || die "no tcpcraft binary at $TCPCRAFT"

ip netns add "$NS" || die "ip netns add"
ip link add "$HOSTIF" address "$HOSTMAC" type veth peer name "$NSIF" address "$NSMAC" netns "$NS" || die "veth"
sysctl -qw "net.ipv4.conf.$HOSTIF.forwarding=0"
ip addr add "$PREFIX.1/24" dev "$HOSTIF"
ip link set "$HOSTIF" up
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$PREFIX.2/24" dev "$NSIF"
ip -n "$NS" link set "$NSIF" up
ip -n "$NS" neigh replace "$PREFIX.99" lladdr "$HOSTMAC" dev "$NSIF" nud permanent

ip netns exec "$NS" timeout 600 python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.bind(("'"$PREFIX.2"'", '"$PORT"'))
s.listen(1024)
print("ready", flush=True)
time.sleep(600)
' > "$WORK/listener" &
LISTENER_PID=$!
for _ in $(seq 50); do grep -q ready "$WORK/listener" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/listener" || die "the listener did not start"

run() {  # run MODE ROUND → prints elapsed seconds; JSON in $WORK/MODE-ROUND.json
  local mode=$1 round=$2 extra=()
  [ "$mode" = sequential ] && extra=(--sequential)
  [ "$mode" = wide ] && extra=(--parallel 64)
  local start end
  start=$(date +%s.%N)
  timeout 300 "$TCPCRAFT" probe "$PREFIX.2:$PORT" --all --json --timeout "$TIMEOUT" --seed 12 \
    --iface "$HOSTIF" --dst-mac "$NSMAC" --source "$PREFIX.99" --no-guard --netns "$NS" "${extra[@]}" \
    > "$WORK/$mode-$round.json" 2>/dev/null
  end=$(date +%s.%N)
  echo "$start $end" | awk '{ printf "%.3f\n", $2 - $1 }'
}

verdicts() { grep '"type":"case"' "$1" | sed -E 's/.*"case":"([^"]*)".*"verdict":"([^"]*)".*/\1 \2/'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

SEQ_TIMES=()
CON_TIMES=()
WIDE_TIMES=()
SAME=yes
for round in $(seq "$ROUNDS"); do
  SEQ_TIMES+=("$(run sequential "$round")")
  CON_TIMES+=("$(run concurrent "$round")")
  WIDE_TIMES+=("$(run wide "$round")")
  for mode in concurrent wide; do
    if ! diff <(verdicts "$WORK/sequential-$round.json") <(verdicts "$WORK/$mode-$round.json") > "$WORK/diff"; then
      SAME=no
      log "round $round ($mode): verdicts differ:"; cat "$WORK/diff" >&2
    fi
  done
done
CASES=$(verdicts "$WORK/concurrent-1.json" | wc -l)
SEQ=$(printf '%s\n' "${SEQ_TIMES[@]}" | median)
CON=$(printf '%s\n' "${CON_TIMES[@]}" | median)
WIDE=$(printf '%s\n' "${WIDE_TIMES[@]}" | median)
RATIO=$(awk -v s="$SEQ" -v c="$CON" 'BEGIN { printf "%.1f", s / c }')
WIDE_RATIO=$(awk -v s="$SEQ" -v c="$WIDE" 'BEGIN { printf "%.1f", s / c }')
TALLY=$(verdicts "$WORK/concurrent-1.json" | awk '{ $1 = ""; sub(/^ /, ""); n[$0]++ } END { for (v in n) printf "%s%d %s", (i++ ? ", " : ""), n[v], v }')

echo "| $CASES cases, --timeout $TIMEOUT s, $ROUNDS rounds (median) | wall time |"
echo "|---|---|"
echo "| --sequential | ${SEQ} s (rounds: ${SEQ_TIMES[*]}) |"
echo "| at once (default: at most 12 cases hold state at the listener) | ${CON} s (rounds: ${CON_TIMES[*]}) |"
echo "| at once, --parallel 64 (this listener's backlog is 1024) | ${WIDE} s (rounds: ${WIDE_TIMES[*]}) |"
echo "| ratio sequential / at once | ${RATIO}x (default), ${WIDE_RATIO}x (--parallel 64) |"
echo "| same verdicts, case by case | $SAME ($TALLY) |"
[ "$SAME" = yes ]
