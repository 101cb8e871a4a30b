#!/usr/bin/env bash
# Lab 1 — the 3-way handshake (seed 001, 003).
# A kernel server listens; tcpcraft plays the client by hand: SYN, SYN+ACK, ACK. Watch the
# server go LISTEN → SYN-RECEIVED → ESTABLISHED beside our CLOSED → SYN-SENT → ESTABLISHED, and
# check the arithmetic: ack = the other side's ISN + 1, because a SYN consumes one number.
# Files: handshake.svg (the ladder to project), handshake.pcapng (open in Wireshark: each packet
# carries its explanation as a packet comment).
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
kernel_server close "$PORT"
"$TCPCRAFT" handshake "127.0.0.1:$PORT" --mss 1460 --wscale 7 --timestamps --sack-perm --explain \
  --svg "$OUT/handshake.svg" --pcapng "$OUT/handshake.pcapng"
"$TCPCRAFT" fin --quiet
