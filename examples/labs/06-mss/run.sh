#!/usr/bin/env bash
# Lab 6 — MSS negotiation.
# tcpcraft plays a server that announces MSS 536 on its SYN+ACK; the kernel client offered 65495
# (lo's MTU less 40). Each side then sends at most min(65495, 536) = 536 bytes a segment. The
# client sends 1500 bytes. On a wire they arrive as 536 + 536 + 428; on lo the kernel may hand
# one 1500-byte "super-segment" (segmentation offload) that tcpcraft flags as longer than the MSS.
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
"$TCPCRAFT" listen "$PORT" --mss 536 --timeout 10 --explain \
  --svg "$OUT/mss.svg" --pcapng "$OUT/mss.pcapng" &
started $!
listener=$!
sleep 0.3
kernel_client big "$PORT" 1500
wait "$listener"
