#!/usr/bin/env bash
# tcpcraft side by side with the tools people use today (issue 6, point 3), in one run:
#   - layer-3 send of 40-byte SYNs, a new seq each: tcpcraft vs hping3 --flood -S, vs the plain
#     C sendto/sendmmsg loop in this package (c-sender), vs scapy;
#   - layer-2 send of 54-byte frames: tcpcraft vs trafgen (netsniff-ng);
#   - capture while the fastest sender runs: tcpcraft sniff vs tcpdump -w and tcpdump's text
#     output, with the kernel's drop counts.
#
# Everything runs on loopback, to 127.0.0.1 port 9 only. The receiver counts: an nf_tables table
# of our own (removed on exit) counts and drops the SYNs in prerouting, so the kernel sends no
# RSTs. Each sender runs for WARMUP + SECONDS and is measured over the SECONDS window only, so
# start-up costs (Python imports, builds) do not count. Every tool runs under `timeout`. The
# senders take turns for several rounds and the medians are reported.
#
# Usage (as root, from anywhere):  Benchmarks/peers.sh [SECONDS]     (default 3)
# Environment: PEERS_ROUNDS=N rounds of senders (default 5; medians reported);
#   PEERS_SMALL_BUFFER=0 skips the extra captures with 1 MiB buffers;
#   PEERS_SKIP_INSTALL=1 skips apt/pip; TCPCRAFT=path uses that binary;
#   TCPCRAFT_L3_ARGS / TCPCRAFT_L2_ARGS / TCPCRAFT_SNIFF_ARGS override how tcpcraft is called.
# Need not run in CI. Prints a markdown table.
set -u -o pipefail

SECONDS_WINDOW=${1:-3}
ROUNDS=${PEERS_ROUNDS:-5}
WARMUP=2
DPORT=9
DST=127.0.0.1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TABLE="tcpcraft_peers_$$"
WORK=$(mktemp -d /tmp/tcpcraft-peers.XXXXXX)
LOG="$WORK/log"

log() { printf '%s\n' "$*" >&2; }
die() { log "peers.sh: $*"; exit 1; }

cleanup() {
  nft delete table ip "$TABLE" 2>/dev/null
  # Stop anything of ours still running (by pid, never by name).
  for pid in ${BG_PIDS:-}; do kill "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || die "run as root (raw sockets, AF_PACKET, nftables)"
case "$SECONDS_WINDOW" in ''|*[!0-9]*) die "SECONDS must be a whole number";; esac
[ "$SECONDS_WINDOW" -ge 1 ] && [ "$SECONDS_WINDOW" -le 30 ] || die "SECONDS must be 1..30"

# ---------------------------------------------------------------------------------------------
# Peers: Debian packages and PyPI.
if [ "${PEERS_SKIP_INSTALL:-0}" != 1 ]; then
  need=()
  command -v hping3 >/dev/null || need+=(hping3)
  command -v trafgen >/dev/null || need+=(netsniff-ng)
  command -v tcpdump >/dev/null || need+=(tcpdump)
  command -v nft >/dev/null || need+=(nftables)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (apt-get)"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || log "apt-get install failed"
  fi
  python3 -c 'import scapy' 2>/dev/null || {
    log "installing scapy (pip)"
    python3 -m pip install -q scapy >/dev/null 2>&1 ||
      python3 -m pip install -q --break-system-packages scapy >/dev/null 2>&1 ||  # Debian's PEP 668 python
      log "pip install scapy failed: the scapy row will say so"
  }
fi

# ---------------------------------------------------------------------------------------------
# Our binaries: the C sender of this package, and tcpcraft (release builds).
log "building c-sender and tcpcraft (release)"
(cd "$HERE" && swift build -c release --product c-sender >"$WORK/build-c.log" 2>&1) || { cat "$WORK/build-c.log" >&2; die "c-sender did not build"; }
CSENDER="$HERE/.build/release/c-sender"
if [ -z "${TCPCRAFT:-}" ]; then
  (cd "$ROOT" && swift build -c release --product tcpcraft >"$WORK/build-t.log" 2>&1) || { tail -20 "$WORK/build-t.log" >&2; log "tcpcraft did not build"; }
  TCPCRAFT="$ROOT/.build/release/tcpcraft"
fi

# What this tcpcraft can do (the rate features come from branch `rate`): read its --help.
SEND_HELP=$("$TCPCRAFT" send --help 2>&1 || true)
SNIFF_HELP=$("$TCPCRAFT" sniff --help 2>&1 || true)
has() { grep -q -e "$2" <<<"$1"; }
TC_L3=0; TC_L2=0; TC_SNIFF=0; TC_L2_FLAG=""; TC_RING=""; TC_DURATION=0
has "$SEND_HELP" '--count' && TC_L3=1
has "$SEND_HELP" '--duration' && TC_DURATION=1
if [ $TC_L3 = 1 ]; then
  if has "$SEND_HELP" '--l2'; then TC_L2_FLAG="--l2"; TC_L2=1
  elif has "$SEND_HELP" '--iface'; then TC_L2_FLAG="--iface lo"; TC_L2=1
  fi
fi
has "$SNIFF_HELP" '--pcap' && TC_SNIFF=1
has "$SNIFF_HELP" '--ring' && TC_RING="--ring"
# A bound tcpcraft itself honours (the script's timeout is the outer bound either way).
tc_bound() { [ $TC_DURATION = 1 ] && echo "--duration $1 --quiet"; }

# ---------------------------------------------------------------------------------------------
# The receiver: count and drop our SYNs in prerouting (after AF_PACKET taps, before TCP).
nft -f - <<EOF || die "nft table"
table ip $TABLE {
  counter rx { }
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    ip daddr $DST tcp dport $DPORT counter name rx drop
  }
}
EOF
counter() { nft list counter ip "$TABLE" rx 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
now() { date +%s.%N; }

# run_sender NAME COMMAND...: starts the command in the background, waits WARMUP, counts what
# arrives over SECONDS_WINDOW, stops it. Sets RATE (packets/s at the receiver) or RATE="".
RATE=""
run_sender() {
  local name=$1; shift
  local out="$WORK/$name.out"
  timeout -s INT -k 2 $((WARMUP + SECONDS_WINDOW + 2)) "$@" >"$out" 2>&1 &
  local pid=$!
  BG_PIDS="$pid"
  sleep "$WARMUP"
  if ! kill -0 "$pid" 2>/dev/null; then
    RATE=""; log "$name exited early: $(head -c 300 "$out")"; BG_PIDS=""; return 1
  fi
  local c1 t1 c2 t2
  c1=$(counter); t1=$(now)
  sleep "$SECONDS_WINDOW"
  c2=$(counter); t2=$(now)
  kill -INT "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  BG_PIDS=""
  RATE=$(awk -v a="$c1" -v b="$c2" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
  log "$name: $RATE packets/s at the receiver ($(tail -n 2 "$out" | tr '\n' ' ' | head -c 200))"
  return 0
}

declare -A RESULT SAMPLES
measure() {  # measure KEY COMMAND...: one sample (packets/s) appended to SAMPLES[KEY]
  local key=$1; shift
  if run_sender "$key" "$@" && [ -n "$RATE" ] && [ "$RATE" -gt 0 ]; then
    SAMPLES[$key]="${SAMPLES[$key]:-} $RATE"
  else
    SAMPLES[$key]="${SAMPLES[$key]:-} failed"
  fi
}
median() { tr ' ' '\n' | grep -E '^[0-9]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

BIG=1000000000  # counts large enough to outlast the window; timeout bounds every run
BOUND=$((WARMUP + SECONDS_WINDOW + 1))
TRAFGEN_PACKET='{ eth(da=00:00:00:00:00:00, sa=00:00:00:00:00:00), ipv4(sa=127.0.0.1, da=127.0.0.1, ttl=64, df), tcp(sp=40005, dp=9, seq=dinc(), syn, win=65535) }'
cat >"$WORK/scapy_send.py" <<EOF
from scapy.all import IP, TCP, send, conf
conf.verb = 0
# A new seq for every packet: scapy expands the (first, last) range into that many packets.
send(IP(dst="$DST") / TCP(sport=40003, dport=$DPORT, flags="S", seq=(1, 10000000)), verbose=0)
EOF

# Senders take turns, ROUNDS times (the order reversed every other round), so that a noisy
# moment on a shared machine hits each of them alike; the table shows the median of the rounds.
L3_KEYS=(tcpcraft_l3 c_sendto c_sendmmsg hping3 scapy)
L2_KEYS=(tcpcraft_l2 trafgen)
send_once() {
  case $1 in
    c_sendto) measure c_sendto "$CSENDER" --mode sendto --dst $DST --dport $DPORT --seconds $BOUND ;;
    c_sendmmsg) measure c_sendmmsg "$CSENDER" --mode sendmmsg --batch 64 --dst $DST --dport $DPORT --seconds $BOUND ;;
    hping3) measure hping3 hping3 --flood -S -p $DPORT -q $DST ;;
    scapy) measure scapy python3 "$WORK/scapy_send.py" ;;
    trafgen) measure trafgen trafgen --dev lo --cpus 1 -q "$TRAFGEN_PACKET" ;;
    tcpcraft_l3)
      if [ $TC_L3 = 1 ]; then
        # shellcheck disable=SC2046,SC2086
        measure tcpcraft_l3 "$TCPCRAFT" send $DST:$DPORT --flags S --sport 40004 --count $BIG $(tc_bound $BOUND) ${TCPCRAFT_L3_ARGS:-}
      else SAMPLES[tcpcraft_l3]="n/a"; fi ;;
    tcpcraft_l2)
      if [ $TC_L2 = 1 ]; then
        # shellcheck disable=SC2046,SC2086
        measure tcpcraft_l2 "$TCPCRAFT" send $DST:$DPORT --flags S --sport 40006 --count $BIG $TC_L2_FLAG $(tc_bound $BOUND) ${TCPCRAFT_L2_ARGS:-}
      else SAMPLES[tcpcraft_l2]="n/a"; fi ;;
  esac
}
for round in $(seq 1 "$ROUNDS"); do
  keys=("${L3_KEYS[@]}" "${L2_KEYS[@]}")
  if [ $((round % 2)) = 0 ]; then
    reversed=(); for ((i = ${#keys[@]} - 1; i >= 0; i--)); do reversed+=("${keys[$i]}"); done; keys=("${reversed[@]}")
  fi
  log "round $round of $ROUNDS: ${keys[*]} (${SECONDS_WINDOW}s windows after ${WARMUP}s warm-up)"
  for key in "${keys[@]}"; do send_once "$key"; done
done
for key in "${L3_KEYS[@]}" "${L2_KEYS[@]}"; do
  if [ "${SAMPLES[$key]:-}" = "n/a" ]; then RESULT[$key]="n/a"; else RESULT[$key]=$(median <<<"${SAMPLES[$key]:-}"); fi
  log "$key: samples${SAMPLES[$key]:-} -> median ${RESULT[$key]:-none}"
done

# ---------------------------------------------------------------------------------------------
# Capture while the fastest sender runs.
FASTEST=""; FASTEST_RATE=0
for key in c_sendto c_sendmmsg hping3 tcpcraft_l3 trafgen tcpcraft_l2; do
  r=${RESULT[$key]:-}
  case "$r" in ''|n/a) continue;; esac
  if [ "$r" -gt "$FASTEST_RATE" ]; then FASTEST=$key; FASTEST_RATE=$r; fi
done
start_fastest() {
  case $FASTEST in
    c_sendto) "$CSENDER" --mode sendto --dst $DST --dport $DPORT --seconds $((SECONDS_WINDOW + 3)) ;;
    c_sendmmsg) "$CSENDER" --mode sendmmsg --dst $DST --dport $DPORT --seconds $((SECONDS_WINDOW + 3)) ;;
    hping3) timeout -s INT $((SECONDS_WINDOW + 3)) hping3 --flood -S -p $DPORT -q $DST ;;
    trafgen) timeout -s INT $((SECONDS_WINDOW + 3)) trafgen --dev lo --cpus 1 -q "$TRAFGEN_PACKET" ;;
    tcpcraft_l3) timeout -s INT $((SECONDS_WINDOW + 3)) "$TCPCRAFT" send $DST:$DPORT --flags S --sport 40004 --count $BIG $(tc_bound $((SECONDS_WINDOW + 3))) ${TCPCRAFT_L3_ARGS:-} ;;
    tcpcraft_l2) timeout -s INT $((SECONDS_WINDOW + 3)) "$TCPCRAFT" send $DST:$DPORT --flags S --sport 40006 --count $BIG $TC_L2_FLAG $(tc_bound $((SECONDS_WINDOW + 3))) ${TCPCRAFT_L2_ARGS:-} ;;
  esac
}

declare -A CAP_GOT CAP_DROP CAP_SENT CAP_RATE
PCAP_OUT=""
# capture KEY COMMAND...: runs the capture for the window while the fastest sender runs; the
# command's output is parsed for "N packets captured" / "N packets dropped by kernel".
capture() {
  local key=$1; shift
  local out="$WORK/cap-$key.out"
  timeout -s INT -k 2 $((SECONDS_WINDOW + 1)) "$@" >"$out.stdout" 2>"$out" &
  local cpid=$!
  sleep 0.5
  local c1 t1; c1=$(counter); t1=$(now)
  start_fastest >"$WORK/sender-$key.out" 2>&1 &
  local spid=$!
  BG_PIDS="$cpid $spid"
  wait "$cpid" 2>/dev/null
  local c2 t2; c2=$(counter); t2=$(now)
  CAP_RATE[$key]=$(awk -v a="$c1" -v b="$c2" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.0f k", (b - a) / (e - s) / 1000 }')
  kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
  BG_PIDS=""
  cat "$out.stdout" >>"$out"
  CAP_SENT[$key]=$((c2 - c1))
  CAP_GOT[$key]=$(sed -n 's/^\([0-9][0-9]*\) packets\{0,1\} captured.*/\1/p' "$out" | tail -n 1)
  CAP_DROP[$key]=$(sed -n 's/^\([0-9][0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$out" | tail -n 1)
  if [ -z "${CAP_GOT[$key]}" ]; then
    CAP_GOT[$key]=$(grep -o -i -E '[0-9]+ (packets|frames|segments) (captured|received|written)' "$out" | tail -n 1 | grep -o -E '^[0-9]+')
  fi
  if [ -z "${CAP_GOT[$key]}" ]; then
    # No count printed: count what was written (pcap records, or summary lines).
    if [ -n "$PCAP_OUT" ] && [ -s "$PCAP_OUT" ]; then
      CAP_GOT[$key]="$(tcpdump -r "$PCAP_OUT" -nn 2>/dev/null | grep -c 'Flags \[S\]') (counted in the file)"
    else
      CAP_GOT[$key]="$(grep -c 'Flags \[S\]' "$out.stdout") (lines counted)"
    fi
  fi
  [ -n "${CAP_DROP[$key]}" ] || CAP_DROP[$key]="not reported"
  rm -f "$out.stdout" "$PCAP_OUT"
  PCAP_OUT=""
  if [ -z "${CAP_DROP[$key]}" ]; then
    CAP_DROP[$key]=$(grep -o -i -E '[0-9]+ (packets )?dropped( by (the )?kernel)?' "$out" | tail -n 1 | grep -o -E '^[0-9]+')
  fi
  log "capture $key: arrived ${CAP_SENT[$key]}, captured ${CAP_GOT[$key]:-?}, kernel drops ${CAP_DROP[$key]:-?} ($(grep -v '^$' "$out" | tail -n 3 | tr '\n' ' ' | head -c 300))"
}

FILTER="tcp dst port $DPORT"
if [ -n "$FASTEST" ]; then
  log "capture on lo while $FASTEST sends (~$FASTEST_RATE packets/s)"
  PCAP_OUT="$WORK/tcpdump.pcap"
  capture tcpdump_w tcpdump -i lo -Q in -n -w "$PCAP_OUT" "$FILTER"
  capture tcpdump_text tcpdump -i lo -Q in -nn -S -t -l "$FILTER"
  if [ $TC_SNIFF = 1 ]; then
    # shellcheck disable=SC2086
    PCAP_OUT="$WORK/tcpcraft.pcap"
    capture tcpcraft_w "$TCPCRAFT" sniff $TC_RING -i lo --filter "$FILTER" --pcap "$PCAP_OUT" --timeout $((SECONDS_WINDOW + 2)) ${TCPCRAFT_SNIFF_ARGS:-}
    # shellcheck disable=SC2086
    capture tcpcraft_text "$TCPCRAFT" sniff $TC_RING -i lo --filter "$FILTER" --timeout $((SECONDS_WINDOW + 2)) ${TCPCRAFT_SNIFF_ARGS:-}
  fi
  # The same with a 1 MiB kernel buffer on both sides (tcpdump -B 1024 KiB, tcpcraft
  # --buffer-size 1 MiB): with the default buffers neither may drop at the rates 2 cores reach.
  if [ "${PEERS_SMALL_BUFFER:-1}" = 1 ]; then
    PCAP_OUT="$WORK/tcpdump.pcap"
    capture tcpdump_w_small tcpdump -i lo -Q in -n -B 1024 -w "$PCAP_OUT" "$FILTER"
    capture tcpdump_text_small tcpdump -i lo -Q in -nn -S -t -l -B 1024 "$FILTER"
    if [ $TC_SNIFF = 1 ] && [ -n "$TC_RING" ] && has "$SNIFF_HELP" '--buffer-size'; then
      PCAP_OUT="$WORK/tcpcraft.pcap"
      # shellcheck disable=SC2086
      capture tcpcraft_w_small "$TCPCRAFT" sniff --ring --buffer-size 1 -i lo --filter "$FILTER" --pcap "$PCAP_OUT" --timeout $((SECONDS_WINDOW + 2)) ${TCPCRAFT_SNIFF_ARGS:-}
      # shellcheck disable=SC2086
      capture tcpcraft_text_small "$TCPCRAFT" sniff --ring --buffer-size 1 -i lo --filter "$FILTER" --timeout $((SECONDS_WINDOW + 2)) ${TCPCRAFT_SNIFF_ARGS:-}
    fi
  fi
fi

# ---------------------------------------------------------------------------------------------
# The table.
fmt() { case "${1:-}" in '') echo "failed";; n/a) echo "not available";; *) awk -v r="$1" 'BEGIN { printf "%.0f k", r / 1000 }';; esac; }
# Ratios are taken round by round (both tools measured seconds apart) and the median reported,
# with the spread over the rounds.
round_ratios() {  # round_ratios KEY_A KEY_B -> the per-round A/B ratios, one a line
  local -a a b
  read -r -a a <<<"${SAMPLES[$1]:-}"
  read -r -a b <<<"${SAMPLES[$2]:-}"
  local i
  for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do
    case "${a[$i]}${b[$i]}" in *[!0-9]*|'') continue;; esac
    awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { if (y > 0) printf "%.4f\n", x / y }'
  done
}
ratio_of() {  # ratio_of KEY_A KEY_B -> the median per-round ratio, or nothing
  round_ratios "$1" "$2" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() {  # ratio KEY_A KEY_B -> "0.95× (0.90–1.02)"
  local r lo hi
  r=$(ratio_of "$1" "$2")
  [ -n "$r" ] || { echo "–"; return; }
  lo=$(round_ratios "$1" "$2" | sort -g | head -n 1)
  hi=$(round_ratios "$1" "$2" | sort -g | tail -n 1)
  awk -v r="$r" -v l="$lo" -v h="$hi" 'BEGIN { printf "%.2f× (rounds %.2f–%.2f)", r, l, h }'
}
goal() {  # goal KEY_A KEY_B MIN
  local r
  r=$(ratio_of "$1" "$2")
  [ -n "$r" ] || { echo "not measured"; return; }
  awk -v r="$r" -v m="$3" 'BEGIN { if (r >= m) printf "met (%.2f×)", r; else printf "**missed** (%.2f×)", r }'
}
C_BEST=c_sendmmsg
if [ -n "${RESULT[c_sendto]:-}" ] && { [ -z "${RESULT[c_sendmmsg]:-}" ] || [ "${RESULT[c_sendto]}" -gt "${RESULT[c_sendmmsg]}" ]; }; then C_BEST=c_sendto; fi

echo
echo "## Side by side on lo, $(date -u '+%Y-%m-%d %H:%M UTC'), ${SECONDS_WINDOW}s windows, $ROUNDS rounds"
echo
echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Rates: medians over the rounds. Ratios: medians of the per-round ratios (range over the rounds)."
echo
echo "| layer-3 sender (40-byte SYNs, new seq each) | packets/s at the receiver | tcpcraft / this |"
echo "|---|---|---|"
echo "| tcpcraft \`send --count\` (sendmmsg) | $(fmt "${RESULT[tcpcraft_l3]:-}") | |"
echo "| C \`sendto\` loop (c-sender) | $(fmt "${RESULT[c_sendto]:-}") | $(ratio tcpcraft_l3 c_sendto) |"
echo "| C \`sendmmsg\` loop, batches of 64 (c-sender) | $(fmt "${RESULT[c_sendmmsg]:-}") | $(ratio tcpcraft_l3 c_sendmmsg) |"
echo "| hping3 --flood -S | $(fmt "${RESULT[hping3]:-}") | $(ratio tcpcraft_l3 hping3) |"
echo "| scapy send() of a seq range | $(fmt "${RESULT[scapy]:-}") | $(ratio tcpcraft_l3 scapy) |"
echo
echo "| layer-2 sender (54-byte frames on lo) | packets/s at the receiver | tcpcraft / this |"
echo "|---|---|---|"
echo "| tcpcraft \`send --count $TC_L2_FLAG\` (TX ring) | $(fmt "${RESULT[tcpcraft_l2]:-}") | |"
echo "| trafgen --cpus 1 (TX ring) | $(fmt "${RESULT[trafgen]:-}") | $(ratio tcpcraft_l2 trafgen) |"
echo
if [ -n "$FASTEST" ]; then
  echo "Capture on lo (incoming copies only, filter \`$FILTER\`) while $FASTEST sends:"
  echo
  echo "| capture | packets/s arriving meanwhile | arrived during the capture | captured | kernel drops | drop % |"
  echo "|---|---|---|---|---|---|"
  for key in tcpdump_w tcpdump_text tcpcraft_w tcpcraft_text tcpdump_w_small tcpdump_text_small tcpcraft_w_small tcpcraft_text_small; do
    case $key in
      tcpdump_w) label="tcpdump -w file";;
      tcpdump_text) label="tcpdump -nn -S -t text (to a file)";;
      tcpcraft_w) label="tcpcraft sniff $TC_RING --pcap file";;
      tcpcraft_text) label="tcpcraft sniff $TC_RING text (to a file)";;
      tcpdump_w_small) label="tcpdump -B 1024 -w file";;
      tcpdump_text_small) label="tcpdump -B 1024 text (to a file)";;
      tcpcraft_w_small) label="tcpcraft sniff --ring --buffer-size 1 --pcap file";;
      tcpcraft_text_small) label="tcpcraft sniff --ring --buffer-size 1 text (to a file)";;
    esac
    case $key in *_small) [ "${PEERS_SMALL_BUFFER:-1}" = 1 ] || continue;; esac
    if [ -z "${CAP_SENT[$key]+x}" ]; then echo "| $label | not available | | | | |"; continue; fi
    got=${CAP_GOT[$key]:-?}; drop=${CAP_DROP[$key]:-?}
    pct=$(awk -v g="$got" -v d="$drop" 'BEGIN { if (g ~ /^[0-9]+$/ && d ~ /^[0-9]+$/ && g + d > 0) printf "%.1f%%", 100 * d / (g + d); else print "–" }')
    echo "| $label | ${CAP_RATE[$key]} | ${CAP_SENT[$key]} | $got | $drop | $pct |"
  done
  echo
fi
echo "| goal (issue 6) | result |"
echo "|---|---|"
echo "| layer 3 ≥ 0.9× the C loop (the faster: $C_BEST) | $(goal tcpcraft_l3 $C_BEST 0.9) |"
echo "| layer 3 ≥ 1.5× hping3 | $(goal tcpcraft_l3 hping3 1.5) |"
echo "| layer 2 ≥ 0.8× trafgen | $(goal tcpcraft_l2 trafgen 0.8) |"
if [ -n "${CAP_SENT[tcpcraft_w]+x}" ]; then
  dw=${CAP_DROP[tcpdump_w]:-?}; cw=${CAP_DROP[tcpcraft_w]:-?}; dt=${CAP_DROP[tcpdump_text]:-?}; ct=${CAP_DROP[tcpcraft_text]:-?}
  echo "| no kernel drops where tcpdump -w has none | tcpdump -w dropped $dw, tcpcraft --pcap dropped $cw |"
  echo "| fewer drops than tcpdump's text mode | tcpdump text dropped $dt, tcpcraft text dropped $ct |"
  if [ -n "${CAP_SENT[tcpcraft_w_small]+x}" ]; then
    echo "| the same, 1 MiB buffers | -w: tcpdump ${CAP_DROP[tcpdump_w_small]:-?}, tcpcraft ${CAP_DROP[tcpcraft_w_small]:-?}; text: tcpdump ${CAP_DROP[tcpdump_text_small]:-?}, tcpcraft ${CAP_DROP[tcpcraft_text_small]:-?} |"
  fi
else
  echo "| capture goals | not measured: tcpcraft sniff not available |"
fi
