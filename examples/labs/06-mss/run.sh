#!/usr/bin/env bash
# Lab 6 — MSS negotiation, and segmentation seen.
# tcpcraft plays a server that announces MSS 536 on its SYN+ACK; the kernel client offered 65495
# (lo's MTU less 40). Each side then sends at most min(65495, 536) = 536 bytes a segment: the
# client's 1500 bytes arrive as 536 + 536 + 428, each acknowledged.
#
# Both run in a network namespace of our own whose loopback cuts at the MSS as a wire would
# (the host's lo hands over one 1500-byte "super-segment": segmentation offload; tcpcraft flags
# such a segment when it sees one).
source "$(dirname "$0")/../lib.sh"
lab_netns
PORT=9000
in_netns "$TCPCRAFT" listen "$PORT" --mss 536 --timeout 10 --explain \
  --svg "$OUT/mss.svg" --pcapng "$OUT/mss.pcapng" &
started $!
listener=$!
sleep 0.5
in_netns bash -c "$(declare -f kernel_client); kernel_client big $PORT 1500"
wait "$listener"
