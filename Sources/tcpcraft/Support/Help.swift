/// `--help` text for every command, each with examples.
enum Help {
  static let main = """
    tcpcraft — craft IPv4/TCP segments by hand, send them, capture the replies, and drive TCP
    exchanges one segment at a time (Linux; needs CAP_NET_RAW and CAP_NET_ADMIN: `demo` and
    `sandbox` need no root where user namespaces are allowed; otherwise sudo, or the grant
    `sudo setcap cap_net_raw,cap_net_admin+ep $(command -v tcpcraft)`).

    usage: tcpcraft <command> [options]

    commands:
      demo        the whole textbook exchange against a kernel listener of its own, in a second
      handshake   SYN, SYN+ACK, ACK by hand; leaves the connection ESTABLISHED for `fin`
      fin         the 4-way close of a saved session (FIN, ACK, FIN, ACK)
      send        one crafted segment, any field forced, optionally waiting for a reply
      listen      the server side by hand: answer a client's SYN, serve, close
      sniff       capture and print one tcpdump -nn -S -t line a packet
      decode      decode packets from a pcap file or hex (no privileges needed)
      probe       edge-case segments against a real stack: a conformance table with RFC and evidence
      sandbox     a shell in a private network namespace of your own, where tcpcraft needs no sudo
      help        this text, or `tcpcraft help <command>`

    every command takes --help. Exit status: 0 the exchange went as asked, 1 it did not (RST,
    timeout, mismatch, missing privileges), 2 bad usage.

    examples:
      tcpcraft demo --explain
      tcpcraft sandbox
      sudo tcpcraft handshake 127.0.0.1:8080 --isn 84347051 && sudo tcpcraft fin --seq 84347052
      sudo tcpcraft send 127.0.0.1:8080 --flags S --expect S.
      sudo tcpcraft sniff -i lo --count 10 tcp port 8080
    """

  static let outputOptions = """
      --json          one JSON object a line (each segment, then a result object)
      --explain       one plain sentence a step: the rule at work
      --relative      seq/ack relative to the initial sequence numbers (tcpdump without -S)
      --no-ladder     no ladder diagram at the end
      --quiet         only the final line (errors still go to stderr)
      --rfc-names     states as RFC 9293 spells them (SYN-SENT) instead of netstat's (SYN_SENT)
    """

  static let handshake = """
    usage: tcpcraft handshake HOST:PORT [--sport N] [--isn N] [--window N] [--mss N] [--wscale N]
                              [--sack-perm] [--timestamps] [--tsval N] [--ttl N] [--timeout SECONDS]
                              [--hold SECONDS] [--pcap FILE] [--json] [--explain] [--relative]

    Performs the 3-way handshake by hand (SYN → SYN+ACK → ACK) and leaves the connection
    ESTABLISHED. The session (4-tuple, next seq, next ack) is saved so that `tcpcraft fin` can
    close it later; a small background process (`tcpcraft __hold-guard`) keeps the kernel from
    resetting the connection until then, or until --hold seconds pass idle (default 300). Its
    firewall table belongs to that process and vanishes with it, even on SIGKILL.

    options:
      --sport N       our source port (default: random, 32768-60999)
      --isn N         our initial sequence number (default: random)
      --window N      the window we advertise (default 65535)
      --mss N, --wscale N, --sack-perm, --timestamps [--tsval N]    TCP options in our SYN
      --timeout S     how long to wait for the SYN+ACK (default 3)
      --pcap FILE     write the segments to FILE (pcap, open it in Wireshark)
    \(outputOptions)
    examples:
      sudo tcpcraft handshake 127.0.0.1:8080
      sudo tcpcraft handshake 127.0.0.1:8080 --sport 57273 --isn 84347051 --window 65535 \\
          --mss 16344 --wscale 5 --timestamps --tsval 1525310591 --sack-perm
    """

  static let fin = """
    usage: tcpcraft fin [HOST:PORT] [--sport N] [--seq N] [--ack N] [--timeout SECONDS]
                        [--pcap FILE] [--json] [--explain] [--relative]

    The 4-way close of a session saved by `tcpcraft handshake` (the most recent one when HOST:PORT
    is omitted): FIN → ACK (FIN_WAIT_1 → FIN_WAIT_2), then the peer's FIN → our ACK (TIME_WAIT).
    --seq and --ack override what was saved. Without a saved session, give HOST:PORT, --sport,
    --seq and --ack.

    examples:
      sudo tcpcraft fin
      sudo tcpcraft fin --seq 84347052
      sudo tcpcraft fin 127.0.0.1:8080 --sport 57273 --seq 84347052 --ack 2958367134
    \(outputOptions)
    """

  static let send = """
    usage: tcpcraft send HOST:PORT --flags FLAGS [--sport N] [--seq N] [--ack N] [--window N]
                         [--ttl N] [--id N] [--urgent N] [--data TEXT | --data-hex HEX]
                         [--checksum HEX] [--data-offset N] [--option OPT]... [--expect FLAGS]
                         [--timeout SECONDS] [--guard] [--pcap FILE] [--json]

    Sends one crafted segment with any field forced, and shows what comes back. FLAGS are tcpdump
    letters (S, S., F., P., R, R., SA, FA, PA, none) or names (syn,ack). With --expect, waits for a
    reply with those flags (exit 1 if it does not come). --guard keeps the kernel's own RSTs for
    our port from leaving while we wait.

    --option (repeatable): mss=N, wscale=N, sackok, ts=VAL:ECR, nop, eol, raw=KIND:HEX (the kind
    octet, then HEX verbatim: the length octet is yours, so it can lie).

    examples:
      sudo tcpcraft send 127.0.0.1:8080 --flags S --expect S.
      sudo tcpcraft send 127.0.0.1:9 --flags S --expect R.          # a closed port answers RST
      sudo tcpcraft send 127.0.0.1:8080 --flags S --checksum 0xdead  # dropped by the kernel
      sudo tcpcraft send 127.0.0.1:8080 --flags S --option mss=0 --option raw=254:02

    At rate (any of --count, --rate, --duration):
      tcpcraft send HOST:PORT --flags FLAGS --count N [--rate PPS] [--duration SECONDS]
                    [--walk FIELD[:SPEC]]... [--batch N] [--src A]
                    [--l2 | --iface NAME [--src-mac MAC] [--dst-mac MAC] [--qdisc-bypass]] [--json] [--quiet]
    Sends the segment N times, built once and changed in place per packet: --walk seq[:STEP]
    (the default), ack[:STEP], id[:STEP], sport[:LO-HI], dport[:LO-HI], window:LO-HI,
    flags:S/SA/F. (a list to cycle through). Layer 3 (raw socket, sendmmsg batches) unless --l2 or
    --iface: then Ethernet frames through a PACKET_TX_RING. --rate paces exactly (token bucket on
    the monotonic clock); without it, as fast as the kernel takes them. Always bounded: the send
    stops after --duration (default 60 s) even if N is not reached (exit 1 then, unless
    --duration was given). A progress line on stderr while it runs; a summary at the end.
      sudo tcpcraft send 127.0.0.1:9 --flags S --count 1000000
      sudo tcpcraft send 127.0.0.1:8080 --flags S --count 50000 --rate 10000 --walk sport:20000-29999
      sudo tcpcraft send 10.0.0.2:80 --flags S --duration 5 --iface veth0 --dst-mac 02:00:00:00:00:02
    """

  static let listen = """
    usage: tcpcraft listen [HOST:]PORT [--isn N] [--window N] [--data TEXT] [--timeout SECONDS]
                           [--iface NAME] [--pcap FILE] [--json] [--explain]

    The server side by hand: no kernel socket listens; we wait for a client's SYN, answer with a
    hand-built SYN+ACK, take the ACK, optionally send --data, then wait for the client to close
    and finish the close (CLOSE_WAIT, LAST_ACK). HOST defaults to 127.0.0.1; --timeout (default 30)
    bounds each wait.

    example:
      sudo tcpcraft listen 9000 --data 'hello from tcpcraft' &
      python3 -c 'import socket; s=socket.create_connection(("127.0.0.1",9000)); print(s.recv(99)); s.close()'
    """

  static let sniff = """
    usage: tcpcraft sniff [--iface NAME | -i NAME] [--filter EXPR | EXPR...] [--count N | -c N]
                          [--timeout SECONDS] [--pcap FILE | -w FILE] [--json]
                          [--ring] [--duration SECONDS] [--buffer-size MIB]

    Captures on an interface (default lo) and prints one line a packet, as tcpdump -nn -S -t does.
    The filter is tcpdump's everyday language: tcp, udp, icmp, host A, src|dst host A, port N,
    src|dst port N, tcp[tcpflags] & tcp-syn != 0, joined by and, or, not and parentheses.

    examples:
      sudo tcpcraft sniff -i lo -c 10 tcp port 8080
      sudo tcpcraft sniff --filter 'tcp and host 127.0.0.1' --timeout 5 --pcap out.pcap

    --ring (or --duration SECONDS, --buffer-size MIB): capture through a TPACKET_V3 ring (default
    32 MiB) for traffic at rate. With --pcap no line a packet is printed (as tcpdump -w). Ends
    with tcpdump's counts on stderr: captured, received by filter, dropped by kernel. Ctrl-C
    stops it cleanly.
      sudo tcpcraft sniff --ring -i lo -w burst.pcap --duration 10 tcp port 9
    """

  static let demo = """
    usage: tcpcraft demo [--explain] [--relative] [--json] [--pcap FILE | --no-pcap] [--timeout S]
           tcpcraft demo --serve [--port N] [--duration SECONDS] [--close-delay SECONDS]

    Starts a kernel TCP listener of its own on 127.0.0.1 (an ephemeral port), then plays the
    client by hand: the 3-way handshake, a little data both ways, and the 4-way close, showing
    our state and the listener's real kernel state (from inet_diag) beside every segment. Writes
    the exchange to tcpcraft-demo.pcap in the current directory. Takes about a second.

    Without CAP_NET_RAW and CAP_NET_ADMIN (a normal user, no sudo), it runs in a private network
    namespace of its own (a user namespace: only lo, nothing else reachable), where the
    kernel allows that; the pcap is still written where you asked, owned by you.

    --serve leaves a kernel listener running instead (echoing what it gets) for handshake, fin,
    send and probe to practise on. When a client closes, it waits --close-delay seconds (default
    0.2) before closing too, so that its ACK and its FIN go out separately, as in the textbooks.

    examples:
      tcpcraft demo
      tcpcraft demo --explain --relative
      tcpcraft demo --serve --port 8080
    """

  static func text(for command: String) -> String? {
    switch command {
    case "handshake": handshake
    case "fin": fin
    case "send": send
    case "listen": listen
    case "sniff": sniff
    case "demo": demo
    case "probe": ProbeCommand.help
    case "sandbox": SandboxCommand.help
    default: nil
    }
  }
}
