#!/usr/bin/env bash
# Lab 8 — MSS negotiation and segmentation one veth hop away, as on a real network.
# `tcpcraft demo --serve --veth` makes two network namespaces of its own, joined by a veth pair
# with an MTU of 576 and its offloads off, and runs a kernel server on one side. Our client runs
# on the other side through `tcpcraft sandbox --join PID`.
#
# The server's kernel is told nothing about the MSS: it announces 536 = 576 - 20 (IPv4 header)
# - 20 (TCP header) because that is what its interface carries. We announce 1460 (as a client on
# Ethernet would); each side then sends at most min(1460, 536) = 536 bytes a segment. Asked for
# something, the server answers with 1608 bytes = 3 x 536: they cross the veth as three segments,
# each acknowledged by us. (On the host's lo the same reply would arrive whole: lab 6.)
source "$(dirname "$0")/../lib.sh"
"$TCPCRAFT" demo --serve --veth --mtu 576 --reply-size 1608 --duration 60 > "$OUT/serve.txt" &
started $!
SERVER=$!
for _ in $(seq 100); do
  grep -q '^serving on' "$OUT/serve.txt" && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.05
done
cat "$OUT/serve.txt"
TARGET=$(sed -n 's/^serving on \([0-9.]*:[0-9]*\) .*/\1/p' "$OUT/serve.txt")
[ -n "$TARGET" ] || { echo "demo --serve --veth did not come up" >&2; exit 1; }

# Our commands run in the client's namespace (no sudo needed there).
client() { "$TCPCRAFT" sandbox --join "$SERVER" -- "$TCPCRAFT" "$@"; }
echo "== the handshake: each side's MSS, from its MTU"
client handshake "$TARGET" --mss 1460 --explain --svg "$OUT/mss-veth-handshake.svg" --pcapng "$OUT/mss-veth-handshake.pcapng"
echo "== a request; the 1608-byte reply, cut at the MSS"
client data "$TARGET" 'GET /' --explain --svg "$OUT/mss-veth-data.svg" --pcapng "$OUT/mss-veth-data.pcapng"
echo "== the close"
client fin "$TARGET"
