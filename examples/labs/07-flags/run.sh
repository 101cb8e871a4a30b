#!/usr/bin/env bash
# Lab 7 — the six flags, one crafted segment each (seed 001's table: S, F, R, P, ., and U).
# Each `send` explains the flags the first time they appear. A SYN to a listener brings SYN+ACK;
# a SYN+ACK nobody asked for, and data on no connection, bring the kernel's RST; a segment with a
# bad checksum is marked on its line and gets no answer at all.
source "$(dirname "$0")/../lib.sh"
PORT=$(free_port)
kernel_server close "$PORT"
"$TCPCRAFT" send "127.0.0.1:$PORT" --flags S --guard --expect SA --explain --svg "$OUT/flags-syn.svg" --pcapng "$OUT/flags-syn.pcapng"
"$TCPCRAFT" send "127.0.0.1:$PORT" --flags SA --seq 1000 --ack 2000 --expect R --explain --svg "$OUT/flags-rst.svg"
"$TCPCRAFT" send "127.0.0.1:$PORT" --flags FPU. --urgent 1 --data '!' --seq 1 --ack 1 --expect R --explain --svg "$OUT/flags-fin-psh-urg.svg"
"$TCPCRAFT" send "127.0.0.1:$PORT" --flags S --checksum 0xdead --timeout 1 --explain --svg "$OUT/flags-bad-checksum.svg" --pcapng "$OUT/flags-bad-checksum.pcapng"
