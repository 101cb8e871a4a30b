#!/usr/bin/env bash
# Lab 5 — a refused connection.
# Nothing listens on the port: the kernel answers our SYN with RST,ACK whose ack is our ISN + 1
# (RFC 9293 §3.10.7.1). tcpcraft exits with status 1 and says the port is closed.
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
status=0
"$TCPCRAFT" handshake "127.0.0.1:$PORT" --explain --svg "$OUT/refused.svg" --pcapng "$OUT/refused.pcapng" || status=$?
echo "handshake exit status: $status"
test "$status" -eq 1
