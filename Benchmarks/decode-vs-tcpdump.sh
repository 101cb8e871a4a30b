#!/usr/bin/env bash
# tcpcraft decode --pcap F against tcpdump -nn -S -t -r F, in one run, on the same capture:
# makes a 500,000-packet capture of whole TCP connections (handshakes with options, data both
# ways, pure ACKs, FIN closes, some resets; make-decode-capture.py), checks that both print the
# same bytes, and reports each one's best wall time of 3 runs and the ratio.
#
#   Benchmarks/decode-vs-tcpdump.sh [PACKETS]        (from the repository root; default 500000)
#   TCPCRAFT=/path/to/tcpcraft Benchmarks/decode-vs-tcpdump.sh   (skip the release build)
#
# Needs python3 and tcpdump. Everything it makes lives in a private temporary directory that is
# removed on exit.
set -euo pipefail

packets=${1:-500000}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v tcpdump >/dev/null || { echo "decode-vs-tcpdump: tcpdump is not installed (apt-get install tcpdump)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "decode-vs-tcpdump: python3 is needed to make the capture" >&2; exit 2; }

if [[ -z "${TCPCRAFT:-}" ]]; then
  echo "building tcpcraft (release)..." >&2
  (cd "$root" && swift build -c release --product tcpcraft >/dev/null)
  TCPCRAFT="$root/.build/release/tcpcraft"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/decode-vs-tcpdump.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

python3 "$root/Benchmarks/make-decode-capture.py" "$work/capture.pcap" "$packets"

# Best wall time of 3 runs, in seconds, output to a file.
best() {
  local out=$1; shift
  local best_time=""
  for _ in 1 2 3; do
    local start end elapsed
    start=$(date +%s%N)
    "$@" >"$out" 2>/dev/null
    end=$(date +%s%N)
    elapsed=$(( end - start ))
    if [[ -z "$best_time" || $elapsed -lt $best_time ]]; then best_time=$elapsed; fi
  done
  echo "$best_time"
}

tcpdump_ns=$(best "$work/tcpdump.txt" tcpdump -nn -S -t -r "$work/capture.pcap")
tcpcraft_ns=$(best "$work/tcpcraft.txt" "$TCPCRAFT" decode --pcap "$work/capture.pcap")

lines=$(wc -l <"$work/tcpdump.txt")
if cmp -s "$work/tcpdump.txt" "$work/tcpcraft.txt"; then
  same="byte-identical ($lines lines)"
  status=0
else
  same="DIFFERENT: $(cmp "$work/tcpdump.txt" "$work/tcpcraft.txt" 2>&1 | head -1)"
  status=1
fi

awk -v p="$packets" -v d="$tcpdump_ns" -v c="$tcpcraft_ns" -v same="$same" 'BEGIN {
  printf "packets:                     %d\n", p
  printf "tcpdump -nn -S -t -r:        %.3f s (%.0f ns/packet)\n", d / 1e9, d / p
  printf "tcpcraft decode --pcap:      %.3f s (%.0f ns/packet)\n", c / 1e9, c / p
  printf "tcpcraft time / tcpdump time: %.2f (goal: at most 1.00)\n", c / d
  printf "output:                      %s\n", same
}'
exit $status
