#!/usr/bin/env bash
# Lab 3 — half-close (seed 000, 004).
# A FIN closes one direction only. The kernel client sends a line and shutdown(SHUT_WR)s (its
# FIN); tcpcraft, playing the server, acknowledges the FIN and keeps sending (CLOSE-WAIT), then
# closes its own side. The client reads our data after its own FIN.
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
"$TCPCRAFT" listen "$PORT" --half-close --data 'still talking after your FIN' --timeout 10 --explain \
  --svg "$OUT/half-close.svg" --pcapng "$OUT/half-close.pcapng" &
started $!
listener=$!
sleep 0.3
kernel_client half "$PORT"
wait "$listener"
