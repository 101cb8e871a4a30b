#!/usr/bin/env bash
# Agreement and speed of `tcpcraft run` against the reference packetdrill on its own corpus
# (gtests/net/tcp), both run in the same session on this machine, -P 2 / --parallel 2, in each of
# packetdrill's IP modes asked for (default ipv4): run_all.py -4 / -6 / --ipv4mappedv6 against
# tcpcraft run --ip-version ipv4 / ipv6 / ipv4-mapped-ipv6.
#
#   sudo Benchmarks/scripts-agreement.sh [OUT_DIR [MODE...]]
#   sudo Benchmarks/scripts-agreement.sh /tmp/agree ipv4 ipv6 ipv4-mapped-ipv6
#
# Needs ../shared/packetdrill (the tarball and build.sh) beside the project, root (both tools make
# network namespaces), and a release build of tcpcraft (built here if missing). Prints the table:
# per script, the reference's verdict and ours; the agreement ratio (scripts the reference passes
# that we pass too); both wall times. Everything it makes lives in OUT_DIR (default: a fresh
# mktemp -d), never in a shared /tmp path.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${PACKETDRILL_DIR:-$here/../shared/packetdrill}
out=${1:-$(mktemp -d)}
shift || true
modes=("$@")
[[ ${#modes[@]} -gt 0 ]] || modes=(ipv4)
mkdir -p "$out"
[[ -d $shared ]] || { echo "no reference at $shared (set PACKETDRILL_DIR)" >&2; exit 2; }

# The reference binary, built in our own folder, and a fresh copy of the corpus.
bin=$("$shared/build.sh" "$out/ref" | tail -1)
net=$(dirname "$(dirname "$bin")")
tcpcraft=${TCPCRAFT:-$here/.build/release/tcpcraft}
[[ -x $tcpcraft ]] || (cd "$here" && swift build -c release --product tcpcraft >/dev/null)

echo "reference: $bin" >&2
cd "$net"
for mode in "${modes[@]}"; do
  case $mode in
    ipv4) flag=-4; variant=ipv4 ;;
    ipv6) flag=-6; variant=ipv6 ;;
    ipv4-mapped-ipv6) flag=--ipv4mappedv6; variant=ipv4-mapped-v6 ;;
    *) echo "unknown mode $mode (ipv4, ipv6 or ipv4-mapped-ipv6)" >&2; exit 2 ;;
  esac
  echo "== $mode: packetdrill run_all.py $flag, tcpcraft run --ip-version $mode" >&2
  start=$(date +%s.%N)
  python3 packetdrill/run_all.py "$flag" -P 2 -v tcp > "$out/reference-$mode.txt" 2>&1 || true
  ref_seconds=$(echo "$(date +%s.%N) - $start" | bc)

  start=$(date +%s.%N)
  "$tcpcraft" run tcp --ip-version "$mode" --parallel 2 > "$out/tcpcraft-$mode.txt" 2> "$out/tcpcraft-$mode.err" || true
  our_seconds=$(echo "$(date +%s.%N) - $start" | bc)

  echo "### $mode"
  python3 - "$out/reference-$mode.txt" "$out/tcpcraft-$mode.txt" "$ref_seconds" "$our_seconds" "$variant" "$flag" "$mode" <<'PY'
import re, sys
ref, ours = {}, {}
variant = re.escape(sys.argv[5])
for line in open(sys.argv[1]):
    m = re.match(r'(OK|FAIL|KILL)\s+\[(\S+) \(' + variant + r'\)\]', line)
    if m: ref[re.sub(r'^.*?/gtests/net/', '', m.group(2))] = 'PASS' if m.group(1) == 'OK' else 'FAIL'
for line in open(sys.argv[2]):
    m = re.match(r'(PASS|FAIL|NOT RUN)\s+(\S+) \([0-9.]+s\)(?::\s*(.*))?', line)
    if m: ours[m.group(2)] = (m.group(1), (m.group(3) or '')[:150])
both = sorted(set(ref) | set(ours))
print('| script | packetdrill | tcpcraft | tcpcraft reason |')
print('|---|---|---|---|')
for name in both:
    r = ref.get(name, '-')
    o, why = ours.get(name, ('-', ''))
    print(f'| {name} | {r} | {o} | {why} |')
ref_pass = {n for n, v in ref.items() if v == 'PASS'}
our_pass = {n for n, v in ours.items() if v[0] == 'PASS'}
agree = len(ref_pass & our_pass)
print()
print(f'reference passes {len(ref_pass)} of {len(ref)}; tcpcraft passes {len(our_pass)} of {len(ours)}')
print(f'agreement: tcpcraft passes {agree} of the {len(ref_pass)} the reference passes '
      f'({100.0 * agree / max(1, len(ref_pass)):.1f}%)')
print('reference passes, tcpcraft fails: ' + (', '.join(sorted(ref_pass - our_pass)) or 'none'))
print('tcpcraft passes, reference fails: ' + (', '.join(sorted(our_pass - ref_pass)) or 'none'))
print(f'wall time: packetdrill run_all.py {sys.argv[6]} -P 2: {float(sys.argv[3]):.1f} s; '
      f'tcpcraft run --ip-version {sys.argv[7]} --parallel 2: {float(sys.argv[4]):.1f} s '
      f'(ratio {float(sys.argv[4]) / max(0.001, float(sys.argv[3])):.2f})')
PY
done
echo "outputs in $out" >&2
