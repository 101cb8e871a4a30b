#!/usr/bin/env bash
# Lab 2 — the 4-way close (seed 001, 002).
# After a handshake, tcpcraft closes: FIN, the server's ACK (it is now CLOSE-WAIT, we are
# FIN-WAIT-2), the server's FIN when its application closes (LAST-ACK), our last ACK: we are in
# TIME-WAIT and wait 2·MSL, the server is CLOSED.
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
kernel_server close "$PORT"
"$TCPCRAFT" handshake "127.0.0.1:$PORT" --quiet
"$TCPCRAFT" fin "127.0.0.1:$PORT" --explain --svg "$OUT/close.svg" --pcapng "$OUT/close.pcapng"
