#!/bin/sh
# Settings for our example scripts, applied inside the script's own network namespace (per-netns
# sysctls: the host is never touched). Fixed values make the kernel's options predictable.
sysctl -q net.ipv4.tcp_timestamps=0
sysctl -q net.ipv4.tcp_sack=0
sysctl -q net.ipv4.tcp_window_scaling=1
sysctl -q net.ipv4.tcp_rmem="4096 131072 6291456"
sysctl -q net.ipv4.tcp_wmem="4096 16384 4194304"
sysctl -q net.ipv4.tcp_syn_retries=5
sysctl -q net.ipv4.tcp_ecn=0
