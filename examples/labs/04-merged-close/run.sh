#!/usr/bin/env bash
# Lab 4 — the merged close: three segments instead of four (seed 002).
# When the side that receives the FIN has nothing left to send, its ACK and its FIN can travel in
# one FIN+ACK. The kernel client closes; tcpcraft answers FIN+ACK at once; the client skips
# FIN-WAIT-2 and goes straight to TIME-WAIT, whose 2·MSL timer is read from its kernel.
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
"$TCPCRAFT" listen "$PORT" --close-now --timeout 10 --explain \
  --svg "$OUT/merged-close.svg" --pcapng "$OUT/merged-close.pcapng" &
started $!
listener=$!
sleep 0.3
kernel_client close "$PORT"
wait "$listener"
