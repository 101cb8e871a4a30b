import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft demo`: the whole textbook exchange against a kernel listener of our own, in about a
/// second — handshake, a little data both ways, the 4-way close — with both sides' states.
enum DemoCommand: Command {
  static let spec = CommandSpec(
    name: "demo",
    summary: "the whole textbook exchange against a kernel listener of its own, in a second",
    synopsis: ["[--ipv6] [--explain] [--relative] [--json] [--pcap FILE | --no-pcap] [--timeout SECONDS]", "--serve [--ipv6] [--port N] [--duration SECONDS] [--close-delay SECONDS | --close-now | --half-close | --refuse] [--reply-size N] [--netns NAME | --veth [--mtu N]]"],
    about: """
      Starts a kernel TCP listener of its own on 127.0.0.1 (an ephemeral port), then plays the
      client by hand: the 3-way handshake, a little data both ways, and the 4-way close, showing
      our state and the listener's real kernel state (from inet_diag) beside every segment. Writes
      the exchange to tcpcraft-demo.pcap in the current directory. Takes about a second.
      --ipv6 does the same over IPv6: the listener on ::1, every segment an IPv6 packet.

      Without CAP_NET_RAW and CAP_NET_ADMIN (a normal user, no sudo), it runs in a private network
      namespace of its own (a user namespace: only lo, nothing else reachable), where the kernel
      allows that; the pcap is still written where you asked, owned by you.

      --serve leaves a kernel listener running instead (echoing what it gets) for handshake, fin,
      send and probe to practise on. When a client closes, it waits --close-delay seconds (default
      0.2) before closing too, so that its ACK and its FIN go out separately, as in the textbooks.
      --close-now closes at once instead: the ACK of the client's FIN rides on the server's FIN
      (one FIN+ACK, three segments in all). --half-close keeps sending after the client's FIN (two
      lines, then its own FIN): a FIN closes one direction only. --refuse binds the port but never
      listens, so the kernel answers every SYN with RST+ACK: a refused connection (ECONNREFUSED, as
      a closed port), while the port stays held.

      --netns NAME serves inside a network namespace you made, where lo can cut at the MSS as a
      wire would (the host's lo hands over whole 64 KB segments: offload):
        ip netns add lab && ip -n lab link set lo up && ip -n lab link set lo gso_max_size 1000
      then run the clients there too: ip netns exec lab tcpcraft handshake 127.0.0.1:PORT

      --veth makes a small network of its own instead, as a real network shows MSS negotiation and
      segmentation: two network namespaces joined by a veth pair with a real MTU (--mtu, default
      1500; 576 gives an MSS of 536) and offloads off (TSO, GSO, GRO, checksums), the server at
      10.216.N.2 (default port 8080) and your clients at 10.216.N.1. It prints the commands to
      type: each runs in the client namespace through `tcpcraft sandbox --join PID`. No root
      needed where the kernel allows user namespaces. Nothing is named under /run/netns: the
      namespaces and the veth go when --serve ends, even if it is killed. With --ipv6, the same
      over IPv6: the server at [fd00:216:0:N::2], your clients at fd00:216:0:N::1 (unique local
      addresses, no duplicate address detection), each side announcing MSS = MTU - 60 (the MTU at
      least 1280, IPv6's minimum).
      --reply-size N answers each piece of data with N bytes (numbered lines) instead of its echo:
      with N = 3 × MSS, the kernel's reply crosses the veth as three segments.
      """,
    options: [
      OptionGroup([
        .string("--pcap", "FILE", "write the exchange to FILE (default tcpcraft-demo.pcap)"),
        .toggle("--no-pcap", "write no pcap file"),
        .seconds("--timeout", "how long to wait for each of the listener's segments (default 2)"),
        .toggle("--ipv6", "the whole exchange over IPv6, with the listener on ::1 (with --serve: serve on ::1)"),
      ]),
      OptionGroup(
        "--serve:",
        [
          .toggle("--serve", "leave an echoing kernel listener running instead"),
          .integer("--port", UInt16.self, "N", "the listener's port (default: an ephemeral one; 8080 with --veth)"),
          .seconds("--duration", "how long --serve serves (default 600)"),
          .seconds("--close-delay", zeroAllowed: true, "wait this long after a client's FIN before closing (default 0.2)"),
          .toggle("--close-now", "close at once on the client's FIN: one FIN+ACK (merged close)"),
          .toggle("--half-close", "after the client's FIN, keep sending (two lines), then close"),
          .toggle("--refuse", "hold the port without listening: every SYN gets RST+ACK (refused)"),
          .string("--netns", "NAME", "serve inside the network namespace NAME (made by ip netns add)"),
          .toggle("--veth", "serve one veth hop away: two namespaces of its own, a real MTU, offloads off"),
          .integer("--mtu", UInt32.self, range: 68...65535, "N", "the veth's MTU with --veth (default 1500; MSS = MTU - 40, or - 60 with --ipv6)"),
          .integer("--reply-size", UInt32.self, range: 1...1_000_000, "N", "answer each piece of data with N bytes instead of its echo"),
        ]),
      Common.outputOptions,
    ],
    examples: [
      "tcpcraft demo",
      "tcpcraft demo --explain --relative",
      "tcpcraft demo --ipv6",
      "tcpcraft demo --serve --ipv6 --port 8080 --duration 60   # then: tcpcraft handshake [::1]:8080",
      "tcpcraft demo --serve --port 8080 --duration 60",
      "tcpcraft demo --serve --port 8081 --half-close --duration 60",
      "tcpcraft demo --serve --port 8082 --refuse --duration 60",
      "tcpcraft demo --serve --veth --mtu 576 --reply-size 1608 --duration 120",
      "tcpcraft demo --serve --veth --ipv6 --mtu 1280 --reply-size 3660 --duration 120",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    do throws(UsageError) {
      try arguments.expectPositionals(atMost: 0, command: "demo")
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let port = arguments.integer("--port", as: UInt16.self) ?? 0
    let timeout = arguments.seconds("--timeout") ?? .seconds(2)
    if arguments.has("--serve") {
      if arguments.has("--ipv6") && arguments.has("--veth"), let mtu = arguments.integer("--mtu", as: UInt32.self),
        mtu < ServePeer.ipv6MinimumMTU
      {
        Terminal.error("tcpcraft: demo --serve --veth --ipv6: --mtu \(mtu) is below IPv6's minimum link MTU of \(ServePeer.ipv6MinimumMTU) (RFC 8200 §5)")
        return 2
      }
      return serve(arguments, port: port)
    }
    let serveOnly = ["--duration", "--close-delay", "--close-now", "--half-close", "--refuse", "--netns", "--veth", "--mtu", "--reply-size"]
    if let given = serveOnly.first(where: arguments.has) {
      Terminal.error("tcpcraft: demo: \(given) goes with --serve (tcpcraft demo --serve --veth ...)")
      return 2
    }
    let ipv6 = arguments.has("--ipv6")
    let output = Output(arguments)
    // A normal user (no sudo, no setcap): run in a private user + network namespace where the
    // kernel allows it. Before any thread starts (unshare needs a single-threaded process).
    var privateNamespace = false
    if UserNamespace.wouldHelp {
      do throws(UserNamespace.EntryError) {
        try UserNamespace.enter()
        privateNamespace = true
      } catch {
        Terminal.error(error.advice())
        return 1
      }
    }
    var flow: Flow?
    var listenerLog: () -> [String] = { [] }
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let listener: KernelListener
      do {
        listener = try KernelListener(port: port, ipv6: ipv6)
      } catch {
        throw ScriptError.system(step: "starting the demo listener", description: error.description)
      }
      let server = listener.serveOnce(
        reply: "hello from the kernel\n", closeDelayMicroseconds: closeDelayMicroseconds(arguments))
      _ = server
      listenerLog = { listener.log }
      let remote = Endpoint(address: ipv6 ? .v6(.loopback) : .v4(.loopback), port: listener.port)
      let opened = try Flow.open(to: remote)
      flow = opened
      opened.defaultTimeout = timeout
      if privateNamespace {
        output.say("demo: no root here, so in a private network namespace of our own (a user namespace: only lo).")
      }
      output.say("demo: a kernel listener on \(remote) (its application: accept, recv, send, recv, close).")
      output.say("We are the client \(opened.local), crafting every segment by hand; the RST guard is on.")
      output.say("Each line: time, direction, the segment as tcpdump -nn -S -t prints it, [our state | the listener's state].")
      output.say("")
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }

      // The MSS of lo's 65536-byte MTU: less 40 bytes of IPv4 and TCP headers, or 60 of IPv6 and TCP.
      try opened.activeOpen(options: [.maximumSegmentSize(ipv6 ? 65476 : 65495), .sackPermitted, .noOperation, .windowScale(7)])
      try opened.sendData(Array("hello, kernel\n".utf8))
      if opened.receivedData.isEmpty { try opened.receiveData() }
      try opened.activeClose()
      // Let the listener's thread record its last calls (bounded).
      for _ in 0..<100 where !listener.log.contains("close()") { SystemSleep.sleep(for: .milliseconds(10)) }

      output.drawLadder(opened)
      if !output.json && !output.quiet {
        Terminal.out("")
        Terminal.out("What the listener's application saw:")
        for line in listener.log { Terminal.out("  \(line)") }
      }
      var extra: [(String, String)] = []
      var pcapNote = ""
      if !arguments.has("--no-pcap") {
        let path = absolute(arguments.value("--pcap") ?? "tcpcraft-demo.pcap")
        try Common.writePcap(opened, to: path)
        extra.append(("pcap", path))
        pcapNote = " Wrote \(opened.transcript.entries.count) segments to \(path) (tcpdump -nn -S -r \(path), or open it in Wireshark)."
      }
      let message =
        "Done: handshake, \(opened.transcript.entries.filter { $0.payloadLength > 0 }.count) data segments, "
        + "4-way close; we end in \(opened.state), the listener's socket is gone.\(pcapNote)"
      output.result(ok: true, command: "demo", flow: opened, message: message, extra: extra)
      opened.close()
      return 0
    } catch {
      if let flow { output.drawLadder(flow) }
      if !output.json, flow != nil {
        Terminal.error("What the listener's application saw: " + listenerLog().joined(separator: "; "))
      }
      return Common.report(error, output: output, command: "demo", flow: flow)
    }
  }

  static func absolute(_ path: String) -> String { Common.absolute(path) }

  /// After the client's FIN, the listener waits a little before closing (default 0.2 s,
  /// `--close-delay`): the kernel's delayed ACK of the FIN then goes out on its own, and the
  /// client sees the textbook four segments (FIN, ACK, FIN, ACK) and FIN-WAIT-2, instead of one
  /// combined FIN+ACK.
  static func closeDelayMicroseconds(_ arguments: Arguments) -> UInt32 {
    guard let delay = arguments.seconds("--close-delay") else { return 200_000 }
    let (whole, fraction) = delay.components
    let micro = Double(whole) * 1e6 + Double(fraction) / 1e12
    return UInt32(min(10_000_000, max(0, micro)))
  }

  /// `demo --serve`: a kernel listener that stays up (echoing what it receives) for `tcpcraft
  /// handshake`, `fin`, `send` and `probe` to practise on; or, with `--refuse`, a held port that
  /// refuses.
  static func serve(_ arguments: Arguments, port: UInt16) -> Int32 {
    let duration = arguments.seconds("--duration")
    let seconds = duration.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 600
    let closeDelay = closeDelayMicroseconds(arguments)
    let modes = ["--close-now", "--half-close", "--refuse"].filter { arguments.has($0) }
    if modes.count > 1 || (!modes.isEmpty && arguments.has("--close-delay") && modes != ["--half-close"]) {
      let given = modes + (arguments.has("--close-delay") ? ["--close-delay"] : [])
      Terminal.error("tcpcraft: demo --serve: give one of \(given.joined(separator: ", ")), not several")
      return 2
    }
    let refuse = arguments.has("--refuse")
    let afterFIN: KernelListener.AfterFIN =
      arguments.has("--close-now") ? .closeNow : arguments.has("--half-close") ? .halfClose : .close
    let namespace = arguments.value("--netns")
    let veth = arguments.has("--veth")
    if veth && namespace != nil {
      Terminal.error("tcpcraft: demo --serve: give --veth (namespaces of its own) or --netns NAME (yours), not both")
      return 2
    }
    if let namespace, let problem = ProbeNamespace.problem(with: namespace) {
      Terminal.error("tcpcraft: --netns: \(problem)")
      return 2
    }
    if !veth && arguments.has("--mtu") {
      Terminal.error("tcpcraft: demo --serve: --mtu sets the veth's MTU: give it with --veth")
      return 2
    }
    let replySize = arguments.integer("--reply-size", as: UInt32.self).map(Int.init)
    if veth {
      return servePeer(
        arguments, port: arguments.has("--port") ? port : 8080, seconds: seconds, refuse: refuse, afterFIN: afterFIN,
        closeDelay: closeDelay, replySize: replySize)
    }
    let ipv6 = arguments.has("--ipv6")
    let host = ipv6 ? "[::1]" : "127.0.0.1"
    let listener: KernelListener
    do {
      if let namespace {
        // The socket keeps the namespace it was made in; accept and the echo threads then work
        // on it from here.
        listener = try NetworkNamespace.run(named: namespace) { try KernelListener(port: port, listening: !refuse, ipv6: ipv6) }
      } else {
        listener = try KernelListener(port: port, listening: !refuse, ipv6: ipv6)
      }
    } catch {
      Terminal.error("tcpcraft: \(error)")
      return 1
    }
    let prefix = namespace.map { "ip netns exec \($0) " } ?? ""
    let sudo = Capabilities.has(.netRaw, .netAdmin) ? "" : "sudo "
    let place = namespace.map { " in namespace \($0)" } ?? ""
    if refuse {
      Terminal.out("holding \(host):\(listener.port)\(place) with no listener for \(Int(seconds)) s: every SYN gets RST+ACK; try:")
      Terminal.out("  \(sudo)\(prefix)tcpcraft handshake \(host):\(listener.port) --explain")
    } else {
      let what = switch afterFIN {
      case .close: replySize.map { "answering each request with \($0) bytes" } ?? "echoing"
      case .closeNow: "echoing, closing at once on your FIN (FIN+ACK merged)"
      case .halfClose: "echoing, still sending after your FIN (half-close)"
      }
      Terminal.out("serving on \(host):\(listener.port)\(place) for \(Int(seconds)) s (\(what); Ctrl-C to stop); try:")
      Terminal.out("  \(sudo)\(prefix)tcpcraft handshake \(host):\(listener.port) && \(sudo)\(prefix)tcpcraft fin")
    }
    if sudo != "" { Terminal.out("  (no root? run this and them inside `tcpcraft sandbox`)") }
    serveLoop(listener, seconds: seconds, refuse: refuse, afterFIN: afterFIN, closeDelay: closeDelay, replySize: replySize)
    return 0
  }

  /// Accepts connections until `seconds` pass, each served by an echo thread (bounded: one pass
  /// per accepted connection or per 200 ms of waiting).
  static func serveLoop(
    _ listener: KernelListener, seconds: Double, refuse: Bool, afterFIN: KernelListener.AfterFIN, closeDelay: UInt32,
    replySize: Int?
  ) {
    let deadline = SessionStore.now + seconds
    for _ in 0..<10_000_000 {
      if SessionStore.now > deadline { break }
      if refuse {
        SystemSleep.sleep(for: .milliseconds(200))
        continue
      }
      guard let connection = listener.accept(timeoutMilliseconds: 200) else { continue }
      Terminal.out("accepted a connection (fd \(connection.rawValue))")
      Thread {
        KernelListener.echo(connection, closeDelayMicroseconds: closeDelay, afterFIN: afterFIN, replySize: replySize)
      }.start()
    }
  }

  /// `demo --serve --veth`: the listener one veth hop away from the client (see `ServePeer`).
  static func servePeer(
    _ arguments: Arguments, port: UInt16, seconds: Double, refuse: Bool, afterFIN: KernelListener.AfterFIN,
    closeDelay: UInt32, replySize: Int?
  ) -> Int32 {
    let peer: ServePeer
    let listener: KernelListener
    do throws(ServePeer.Failure) {
      peer = try ServePeer(mtu: arguments.integer("--mtu", as: UInt32.self) ?? 1500, ipv6: arguments.has("--ipv6"))
    } catch {
      Terminal.error(error.description)
      return 1
    }
    do {
      listener = try peer.listener(port: port, listening: !refuse)
    } catch {
      Terminal.error("tcpcraft: demo --serve --veth: \(error)")
      return 1
    }
    // Our descriptor keeps holding the server namespace (with the listener's socket) until we
    // end: `sandbox --join` finds it there to read the server's TCP states.
    defer { peer.close() }
    let pid = getpid()
    let target = peer.target(port: listener.port)
    for line in peer.banner(port: listener.port) { Terminal.out(line) }
    if peer.privateUser {
      Terminal.out("(no root here: both namespaces live in a private user namespace of our own)")
    }
    let mss = peer.mss
    if refuse {
      Terminal.out("holding \(target) with no listener for \(Int(seconds)) s: every SYN gets RST+ACK; try:")
      Terminal.out("  " + ServePeer.joined(pid, "handshake \(target) --explain"))
    } else {
      let what = replySize.map { "answering each request with \($0) bytes" } ?? "echoing"
      Terminal.out("serving on \(target) for \(Int(seconds)) s (\(what); Ctrl-C to stop); try:")
      Terminal.out("  " + ServePeer.joined(pid, "handshake \(target) --mss \(mss) --explain"))
      Terminal.out("  " + ServePeer.joined(pid, "data \(target) 'GET /' --explain"))
      Terminal.out("  " + ServePeer.joined(pid, "fin"))
    }
    Terminal.out("  (or a shell there: tcpcraft sandbox --join \(pid); tcpdump -i \(ServePeer.clientInterface) works inside)")
    serveLoop(listener, seconds: seconds, refuse: refuse, afterFIN: afterFIN, closeDelay: closeDelay, replySize: replySize)
    return 0
  }
}
