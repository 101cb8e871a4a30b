# Shared by the labs: which tcpcraft, where the files go, a free port, kernel peers in python3,
# and cleanup of everything a lab starts. Source it; do not run it.
#
#   TCPCRAFT  the tcpcraft binary (default: tcpcraft on PATH)
#   OUT       where the SVG and pcapng files go (default: ./lab-output)
set -eu
TCPCRAFT=${TCPCRAFT:-tcpcraft}
OUT=${OUT:-./lab-output}
mkdir -p "$OUT"
# Our own session directory, so that a lab never picks up someone else's saved session.
TCPCRAFT_SESSION_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tcpcraft-lab-$$-XXXXXX")
export TCPCRAFT_SESSION_DIR
LAB_PIDS=""
LAB_HELPERS=""

LAB_NETNS=""

lab_cleanup() {
  # tcpcraft gets SIGTERM (it removes its RST guard on the way out); the python peers, which keep
  # no state, get SIGKILL: a parent that blocks SIGTERM (some test runners do) passes the mask on.
  for pid in $LAB_PIDS; do kill "$pid" 2>/dev/null || true; done
  for pid in $LAB_HELPERS; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in $LAB_PIDS $LAB_HELPERS; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$LAB_NETNS" ]; then ip netns del "$LAB_NETNS" 2>/dev/null || true; fi
  rm -rf "$TCPCRAFT_SESSION_DIR"
}
trap lab_cleanup EXIT

# A port nothing listens on now (the kernel picks it; we close it at once).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Remember a background process of ours so that cleanup ends it: tcpcraft, or a python peer.
started() { LAB_PIDS="$LAB_PIDS $1"; }
started_helper() { LAB_HELPERS="$LAB_HELPERS $1"; }

# A kernel TCP server on 127.0.0.1:PORT (one connection, every wait bounded to 20 s):
#   close  read until the client's FIN, then close (the textbook 4-way close)
#   reply  read one request, answer it, read until FIN, close
kernel_server() {
  python3 - "$1" "$2" <<'PY' &
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(20)
if mode == "reply":
    request = c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
while c.recv(4096):
    pass
time.sleep(0.2)  # the application closes a moment after EOF: the ACK of the FIN goes alone
c.close(); s.close()
PY
  started_helper $!
  wait_for_listener "$2"
}

# A kernel TCP client to 127.0.0.1:PORT, after tcpcraft listen is up:
#   half   send a line, shutdown(SHUT_WR) (our FIN), then read until the server's FIN
#   close  send a line, then close at once
#   big    send BYTES bytes (default 1500) in one send(), shutdown, read until FIN
kernel_client() {
  python3 - "$1" "$2" "${3:-1500}" <<'PY'
import socket, sys, time
mode, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for attempt in range(100):  # tcpcraft listen may still be opening its capture
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2); break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("client: no listener on port %d" % port)
c.settimeout(20)
if mode == "big":
    c.sendall(b"x" * size)
else:
    c.sendall(b"hello from the kernel client\n")
if mode == "close":
    time.sleep(0.2); c.close(); sys.exit(0)
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    chunk = c.recv(4096)
    if not chunk: break
    got += chunk
print("client received %d bytes after its own FIN: %r" % (len(got), got))
c.close()
PY
}

# Waits (at most 5 s) until a kernel socket listens on PORT (read from /proc/net/tcp, so that
# the check takes no connection from the server).
wait_for_listener() {
  local hex
  hex=$(printf '%04X' "$1")
  for _ in $(seq 100); do
    if awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { found=1 } END { exit !found }' /proc/net/tcp; then
      return 0
    fi
    sleep 0.05
  done
  echo "no listener on $1" >&2
  return 1
}

# A network namespace of our own whose loopback cuts segments at the MSS, as a wire does: its lo
# gets a small gso_max_size, so TCP builds one segment per MSS instead of a 64 KiB super-segment
# (the host's lo is not touched). Sets LAB_NETNS; cleanup deletes it. Run a command inside with
# `in_netns CMD...`.
lab_netns() {
  LAB_NETNS="tcpcraft-lab-$$"
  ip netns add "$LAB_NETNS"
  ip -n "$LAB_NETNS" link set lo up
  ip -n "$LAB_NETNS" link set lo gso_max_size 1000
}
in_netns() { ip netns exec "$LAB_NETNS" "$@"; }
