#!/usr/bin/env bash
# Builds the libFuzzer target over PacketKit's dissector and pcap reader, and runs it.
#   Fuzz/run.sh [SECONDS]   (default 60)
# Exits non-zero on any crash (the input is saved under Fuzz/.out/artifacts/). Seeds come from the
# test fixtures (scapy-made packets). Build products live in Fuzz/.out (git-ignored).
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/Fuzz/.out"
mkdir -p "$out/include" "$out/corpus" "$out/artifacts"

# A module map for the C checksum target, as SwiftPM would generate it.
cat > "$out/include/module.modulemap" <<MAP
module CInternetChecksum {
  header "$root/Sources/CInternetChecksum/include/CInternetChecksum.h"
  export *
}
MAP

echo "== fuzz: building (swiftc -sanitize=fuzzer,address)"
clang -c -O2 -g -fsanitize=fuzzer-no-link,address \
  -I "$root/Sources/CInternetChecksum/include" \
  "$root/Sources/CInternetChecksum/checksum.c" -o "$out/checksum.o"
# PacketKit's sources live in one folder per protocol family (Core, Link, IPv4, TCP, ...).
sources=()
while IFS= read -r -d '' file; do sources+=("$file"); done \
  < <(find "$root/Sources/PacketKit" -name '*.swift' -type f -print0 | sort -z)
# `Lifetimes`: as Package.swift sets for PacketKit (the non-escapable span views).
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name PacketKit \
  -enable-experimental-feature Lifetimes \
  -I "$out/include" \
  "${sources[@]}" "$root/Fuzz/FuzzDissector.swift" "$out/checksum.o" \
  -o "$out/fuzz-dissector"

# Seeds: every fixture packet as LINKTYPE_IPV4 (selector 4) and behind an Ethernet header
# (selector 1), decoded from the hex in the fixture file with bash alone.
fixtures="$root/Tests/PacketKitTests/Fixtures/FormatTcpdumpFixtures.swift"
count=0
while IFS= read -r hex; do
  escaped="$(printf '%s' "$hex" | sed 's/../\\x&/g')"
  printf '\x04%b' "$escaped" > "$out/corpus/seed-ipv4-$count"
  printf '\x01\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00%b' "$escaped" > "$out/corpus/seed-eth-$count"
  count=$((count + 1))
done < <(sed -n 's/^  ("[^"]*", "\([0-9a-f]*\)"),$/\1/p' "$fixtures")
# The scapy IPv6 packets (IPv6Fixtures.swift) as LINKTYPE_IPV6: selector 5, LinkType.allCases[5].
v6fixtures="$root/Tests/PacketKitTests/Fixtures/IPv6Fixtures.swift"
v6count=0
while IFS= read -r bytes; do
  escaped="$(printf '%s' "$bytes" | sed 's/0x/\\x/g; s/[ ,]//g')"
  printf '\x05%b' "$escaped" > "$out/corpus/seed-ipv6-$v6count"
  v6count=$((v6count + 1))
done < <(sed -n 's/^let v6[A-Za-z0-9]*: \[UInt8\] = \[\(0x[0-9a-f, x]*\)\]$/\1/p' "$v6fixtures")
count=$((count + v6count))
# A pcapng file (editcap -F pcapng of two scapy-made Ethernet SYNs) seeds the pcapng reader.
pcapng="0a0d0d0a6c0000004d3c2b1a01000000ffffffffffffffff0400450045646974636170202857697265736861726b2920342e302e313720284769742076342e302e3137207061636b6167656420617320342e302e31372d302b6465623132753329000000000000006c000000010000001400000001000000ffff000014000000060000005800000000000000240a060040222018360000003600000000112233445566778899aabb08004500002800010000400666cd0a0000010a00000204d210e100000007000000005002200066260000000058000000060000005800000000000000240a060060233518360000003600000066778899aabb00112233445508004500002800020000400666cc0a0000020a00000110e104d200000063000000085012200065b20000000058000000"
printf '%b' "$(printf '%s' "$pcapng" | sed 's/../\\x&/g')" > "$out/corpus/seed-pcapng"
echo "== fuzz: $count seed packets and a pcapng file; running for ${seconds}s"

set +e
"$out/fuzz-dissector" "$out/corpus" \
  -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "== fuzz: FAILED (exit $status); crashing inputs in $out/artifacts/" >&2
  exit "$status"
fi
echo "== fuzz: no crash in ${seconds}s"
