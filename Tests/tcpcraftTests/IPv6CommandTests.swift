import Foundation
import TestSupport
import Testing
@testable import tcpcraft

/// The exchange commands over IPv6, end to end as a user runs them: `handshake [::1]:PORT`, `fin`,
/// `send`, `listen`, `demo --ipv6`, against real kernel sockets on ::1; the pcap files read back by
/// tcpdump and tshark (independent dissectors); and the one-line refusals.
@Suite(.serialized) struct IPv6CommandTests {
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func handshakeThenFinOverIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener(ipv6: true)
    let pcap = NSTemporaryDirectory() + "tcpcraft-ipv6-\(getpid())-handshake.pcap"
    defer { try? FileManager.default.removeItem(atPath: pcap) }
    let handshake = try runner.run([
      "handshake", "[::1]:\(server.port)", "--isn", "84347051", "--mss", "1440", "--wscale", "7", "--sack-perm",
      "--timestamps", "--json", "--pcap", pcap,
    ])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let objects = handshake.jsonObjects
    #expect(objects.count == 4)  // SYN, SYN+ACK, ACK, result
    #expect(objects.first?["src"] as? String == "::1")
    #expect(objects.first?["seq"] as? Int == 84_347_051)
    #expect((objects.first?["summary"] as? String)?.hasPrefix("IP6 ::1.") == true)
    #expect(objects.dropFirst().first?["ack"] as? Int == 84_347_052)
    #expect(objects.dropFirst(2).first?["peer_state"] as? String == "ESTABLISHED")
    let result = try #require(objects.last)
    #expect(result["state"] as? String == "ESTABLISHED")
    #expect(result["family"] as? String == "ipv6")
    #expect((result["remote"] as? String) == "[::1]:\(server.port)")
    let local = try #require(result["local"] as? String)
    let localPort = try #require(local.split(separator: ":").last.flatMap { UInt16($0) })
    let holder = try #require(handshake.guardHolderPID)
    #expect(kill(holder, 0) == 0)
    #expect(CommandRunner.guardTablesExist(holder: holder))
    #expect(waitUntil { server.log.contains("accepted") })
    #expect(server.connections().map(\.state) == ["01"])  // ESTABLISHED, in /proc/net/tcp6
    // The session records the family and the IPv6 4-tuple.
    let sessionFile = runner.sessionDirectory + "/::1_\(server.port)_\(localPort).json"
    let session = try String(contentsOfFile: sessionFile, encoding: .utf8)
    #expect(session.contains("\"family\" : \"ipv6\""))
    #expect(session.contains("\"remoteAddress\" : \"::1\""))
    // tcpdump reads the LINKTYPE_RAW file as IPv6 and agrees with our lines.
    let dump = CommandRunner.shell(["tcpdump", "-nn", "-S", "-t", "-r", pcap])
    let lines = dump.split(separator: "\n").map(String.init)
    #expect(lines.count == 3)
    #expect(lines.first?.hasPrefix("IP6 ::1.\(localPort) > ::1.\(server.port): Flags [S], seq 84347051") == true)
    #expect(lines.first?.contains("mss 1440,nop,wscale 7") == true)
    #expect(lines.map { $0 } == objects.prefix(3).compactMap { $0["summary"] as? String })

    // fin, in another process: the session is found by its IPv6 target.
    let fin = try runner.run(["fin", "[::1]:\(server.port)"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    let finLine = try #require(fin.lines.first { $0.contains("Flags [F.]") })
    #expect(finLine.contains("out IP6 ::1.\(localPort) > ::1.\(server.port): Flags [F.], seq 84347052"))
    #expect(finLine.contains("ESTABLISHED → FIN-WAIT-1"))
    // (FIN-WAIT-2 only when the listener's ACK goes out before its FIN: it closes at once here.)
    #expect(fin.lines.contains { $0.contains("TIME-WAIT") })
    server.expectClosedWithNothingLeft(holder: holder)
    #expect(!FileManager.default.fileExists(atPath: sessionFile))
  }

  /// `data` inside an IPv6 session whose server answers and closes (CLOSE-WAIT saved), then `fin`
  /// from CLOSE-WAIT: our FIN, its ACK (LAST-ACK → CLOSED).
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func dataThenFinFromCloseWaitOverIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener(ipv6: true, answer: "pong over IPv6")
    let handshake = try runner.run(["handshake", "[::1]:\(server.port)"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let data = try runner.run(["data", "[::1]:\(server.port)", "ping"])
    #expect(data.status == 0, "stderr: \(data.stderr)")
    #expect(data.lines.contains { $0.contains("out IP6 ::1.") && $0.contains("> ::1.\(server.port): Flags [P.]") && $0.contains("length 4") })
    #expect(data.lines.contains { $0.contains("→ CLOSE-WAIT") })
    #expect(data.stdout.contains("\"pong over IPv6\""))
    #expect(server.log.first == "accepted" && server.log.contains("data ping"))
    let fin = try runner.run(["fin", "[::1]:\(server.port)"])
    #expect(fin.status == 0, "stdout: \(fin.stdout) stderr: \(fin.stderr)")
    #expect(fin.lines.contains { $0.contains("CLOSE-WAIT → LAST-ACK") })
    #expect(fin.lines.contains { $0.contains("LAST-ACK → CLOSED") })
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: runner.sessionDirectory)) ?? []).isEmpty)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sendACraftedSegmentOverIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    // A closed port: the kernel answers our SYN with RST+ACK over IPv6.
    let (probe, closed) = try KernelSockets6.listener()
    close(probe)
    let pcap = NSTemporaryDirectory() + "tcpcraft-ipv6-\(getpid())-send.pcap"
    defer { try? FileManager.default.removeItem(atPath: pcap) }
    let sent = try runner.run([
      "send", "[::1]:\(closed)", "--flags", "S", "--seq", "1000", "--ttl", "7", "--flow-label", "12345",
      "--expect", "R.", "--pcap", pcap,
    ])
    #expect(sent.status == 0, "stderr: \(sent.stderr)")
    #expect(sent.lines.first?.contains("out IP6 ::1.") == true)
    #expect(sent.lines.contains { $0.contains("in  IP6 ::1.\(closed) > ::1.") && $0.contains("Flags [R.], seq 0, ack 1001") })
    // tcpdump -v shows the hop limit and flow label as built, and a correct checksum.
    let verbose = CommandRunner.shell(["tcpdump", "-nn", "-v", "-r", pcap])
    #expect(verbose.contains("flowlabel 0x03039, hlim 7, next-header TCP (6)"))
    #expect(verbose.contains("cksum") && !verbose.contains("incorrect"))
    if Privileges.haveTool("tshark") {
      let fields = CommandRunner.shell([
        "tshark", "-r", pcap, "-T", "fields", "-e", "ipv6.src", "-e", "ipv6.hlim", "-e", "tcp.flags.str", "-e", "tcp.seq_raw",
      ])
      let rows = fields.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
      #expect(rows.count == 2)
      #expect(rows.first == ["::1", "7", "··········S·", "1000"])
    }
  }

  /// Kernel fact 1 over IPv6: unguarded, our own kernel resets the peer's SYN+ACK, and `send`
  /// shows that RST (captured over IPv6) with why it left.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func unguardedSendShowsOurKernelsIPv6Reset() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (listener, port) = try KernelSockets6.listener()
    defer { close(listener) }
    let sent = try runner.run(["send", "[::1]:\(port)", "--flags", "S", "--seq", "5000", "--expect", "S."])
    #expect(sent.status == 0, "stderr: \(sent.stderr)")
    let reset = try #require(sent.lines.first { $0.hasPrefix("our kernel IP6 ::1.") })
    #expect(reset.hasSuffix("> ::1.\(port): Flags [R], seq 5001, win 0, length 0"))
    #expect(sent.lines.last?.contains("then our own kernel reset the connection (no --guard)") == true)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func listenAnswersAKernelConnectOverIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (probe, port) = try KernelSockets6.listener()
    close(probe)
    let listen = try runner.start(["listen", "[::1]:\(port)", "--data", "hello over IPv6", "--timeout", "10"])
    // The kernel client retries until `listen` has its capture and guard up (bounded).
    var reply: [UInt8] = []
    for _ in 0..<50 {
      let (fd, _) = try KernelSockets6.connecting(port: port)
      defer { close(fd) }
      guard KernelSockets.wait(fd, for: Int16(POLLOUT), milliseconds: 1000) else { continue }
      var error: Int32 = -1
      var length = socklen_t(MemoryLayout<Int32>.size)
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
      guard error == 0 else {
        usleep(100_000)
        continue
      }
      _ = Glibc.send(fd, "ping6", 5, Int32(MSG_NOSIGNAL))
      if KernelSockets.wait(fd, milliseconds: 3000) {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &buffer, buffer.count, 0)
        if count > 0 { reply = Array(buffer[0..<count]) }
      }
      shutdown(fd, Int32(SHUT_WR))
      _ = KernelSockets.wait(fd, milliseconds: 3000)
      break
    }
    let result = listen.finish(timeout: 20)
    #expect(String(decoding: reply, as: UTF8.self) == "hello over IPv6")
    #expect(result.status == 0, "stdout: \(result.stdout) stderr: \(result.stderr)")
    #expect(result.lines.contains { $0.contains("in  IP6 ::1.") && $0.contains("> ::1.\(port): Flags [S]") })
    #expect(result.lines.contains { $0.contains("out IP6 ::1.\(port) > ::1.") && $0.contains("Flags [S.]") })
    #expect(result.lines.last?.contains("received 5 bytes \"ping6\"") == true)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func demoOverIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let pcap = NSTemporaryDirectory() + "tcpcraft-ipv6-\(getpid())-demo.pcap"
    let svg = NSTemporaryDirectory() + "tcpcraft-ipv6-\(getpid())-demo.svg"
    let pcapng = NSTemporaryDirectory() + "tcpcraft-ipv6-\(getpid())-demo.pcapng"
    defer {
      for path in [pcap, svg, pcapng] { try? FileManager.default.removeItem(atPath: path) }
    }
    let demo = try runner.run(["demo", "--ipv6", "--pcap", pcap, "--no-ladder", "--svg", svg, "--pcapng", pcapng])
    #expect(demo.status == 0, "stderr: \(demo.stderr)")
    #expect(demo.lines.first?.hasPrefix("demo: a kernel listener on [::1]:") == true)
    let segments = demo.lines.filter { $0.contains(" IP6 ::1.") }
    // Handshake (3), data both ways with their ACKs (4), the 4-way close (4): the textbook run.
    #expect(segments.count == 11, "\(demo.stdout)")
    #expect(segments.first?.contains("Flags [S]") == true && segments.first?.contains("mss 65476") == true)
    #expect(segments.last?.contains("[TIME-WAIT | peer LAST-ACK → CLOSED]") == true)
    #expect(demo.lines.contains("  recv() → 14 bytes \"hello, kernel\\n\""))
    #expect(demo.lines.last?.hasPrefix("Done: handshake, 2 data segments, 4-way close") == true)
    // The ladder as a picture and the capture with comments, IPv6 endpoints in brackets.
    let picture = try String(contentsOfFile: svg, encoding: .utf8)
    #expect(picture.contains("<title>tcpcraft: [::1]:"))
    #expect(picture.contains("ESTABLISHED"))
    let dump = CommandRunner.shell(["tcpdump", "-nn", "-S", "-t", "-r", pcap]).split(separator: "\n")
    #expect(dump.count == 11)
    #expect(CommandRunner.shell(["tcpdump", "-nn", "-S", "-t", "-r", pcapng]).split(separator: "\n") == dump)
    #expect(dump.allSatisfy { $0.hasPrefix("IP6 ::1.") })
    if Privileges.haveTool("tshark") {
      let checksums = CommandRunner.shell(["tshark", "-r", pcap, "-o", "tcp.check_checksum:TRUE", "-T", "fields", "-e", "tcp.checksum.status"])
      let statuses = checksums.split(separator: "\n")
      #expect(statuses.count == 11)
      #expect(statuses.allSatisfy { $0 == "1" }, "\(checksums)")  // 1: good (the kernel's finished too)
      let comments = CommandRunner.shell(["tshark", "-r", pcapng, "-T", "fields", "-e", "frame.comment"]).split(separator: "\n")
      #expect(comments.count == 11)
      #expect(comments.first?.hasPrefix("#1 sent by us: SYN | us: CLOSED → SYN-SENT") == true)
    }
  }

  /// `demo --serve --ipv6`: a kernel listener on ::1 to practise on; handshake and fin to it.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func demoServesOverIPv6ForHandshakeAndFin() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (probe, port) = try KernelSockets6.listener()
    close(probe)
    let serving = try runner.start(["demo", "--serve", "--ipv6", "--port", String(port), "--duration", "6", "--close-delay", "0"])
    // Bounded: until its listener shows up in the kernel (or 5 s).
    #expect(waitUntil(seconds: 5) { (try? String(contentsOfFile: "/proc/net/tcp6", encoding: .utf8))?.contains(String(format: ":%04X 00000000000000000000000000000000:0000 0A", port)) == true })
    let handshake = try runner.run(["handshake", "[::1]:\(port)", "--quiet"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let fin = try runner.run(["fin", "[::1]:\(port)", "--quiet"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    let served = serving.finish(timeout: 15)
    #expect(served.status == 0)
    #expect(served.lines.first == "serving on [::1]:\(port) for 6 s (echoing; Ctrl-C to stop); try:")
    #expect(served.lines.contains { $0.hasPrefix("accepted a connection") })
  }

  @Test(arguments: [
    (["send", "[::1]:9", "--flags", "S", "--id", "5"], "send: --id is the IPv4 identification; an IPv6 header has none ([::1]:9 is IPv6)"),
    (["send", "127.0.0.1:9", "--flags", "S", "--flow-label", "5"], "send: --flow-label is an IPv6 field; 127.0.0.1:9 is IPv4 (give [ADDR]:PORT)"),
    (["send", "[::1]:9", "--flags", "S", "--flow-label", "1048576"], "send: --flow-label 1048576 does not fit 20 bits (0-1048575)"),
    (["send", "[::1]:9", "--flags", "S", "--count", "5", "--walk", "id"], "--walk: \"id\": id is the IPv4 identification; an IPv6 header has none (walk flow, the flow label)"),
    (["probe", "127.0.0.1:9", "--ipv6"], "--ipv6 probes the IPv6 cases over IPv6: give the target as [ADDR]:PORT (like [::1]:8080), or --target self"),
    (["demo", "--serve", "--ipv6", "--veth", "--mtu", "1279"], "demo --serve --veth --ipv6: --mtu 1279 is below IPv6's minimum link MTU of 1280 (RFC 8200 §5)"),
    (["handshake", "[::1]:0"], "\"0\" is not a port number (1-65535) after [::1]:"),
    (["handshake", "::1:8080"], "\"::1:8080\": put an IPv6 address in brackets, like [::1]:8080"),
    (["handshake", "[fe80::1]:80"], "\"[fe80::1]:80\": a link-local address needs an interface (a zone like %eth0), which tcpcraft does not take yet; use ::1, a ULA (fd00::/8) or a global address"),
  ])
  func refusalsAreOneLineAndExitTwo(arguments: [String], message: String) throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(arguments)
    #expect(result.status == 2)
    #expect(result.errorLines == ["tcpcraft: \(message)"])
    #expect(result.stdout.isEmpty)
  }
}

/// Sessions of either family: the file name is the canonical 4-tuple, the family must agree with
/// the addresses, and a session saved before IPv6 (no family) is IPv4.
@Suite struct IPv6SessionTests {
  func session(local: String, remote: String, family: String?) -> Session {
    Session(
      localAddress: local, localPort: 40000, remoteAddress: remote, remotePort: 8080, interface: "lo",
      state: "ESTABLISHED", initialSendSequence: 1, sendNext: 2, initialReceiveSequence: 3, receiveNext: 4,
      holderPID: 0, holdSeconds: 300, createdAt: 1, updatedAt: 2, token: String(repeating: "a", count: 32),
      family: family)
  }

  @Test func anIPv6SessionIsValidAndNamedByItsTuple() {
    let saved = session(local: "::1", remote: "::1", family: "ipv6")
    #expect(saved.fileName == "::1_8080_40000.json")
    #expect(saved.problem(readFrom: saved.fileName) == nil)
    #expect(saved.remote?.description == "[::1]:8080")
    #expect(saved.listing == "[::1]:40000 → [::1]:8080 (ESTABLISHED, guard pid 0)")
    #expect(saved.remoteText == "[::1]:8080")
  }

  @Test func familiesMustAgreeAndTextMustBeCanonical() {
    #expect(session(local: "127.0.0.1", remote: "::1", family: "ipv6").problem(readFrom: "::1_8080_40000.json") == "mixed address families")
    #expect(session(local: "::1", remote: "::1", family: nil).problem(readFrom: "::1_8080_40000.json") == "mixed address families")
    #expect(session(local: "::1", remote: "::1", family: "ipv4").problem(readFrom: "::1_8080_40000.json") == "mixed address families")
    #expect(session(local: "0:0::1", remote: "::1", family: "ipv6").problem(readFrom: "::1_8080_40000.json") == "bad address")
    // Before IPv6: no family, IPv4 addresses.
    let old = session(local: "127.0.0.1", remote: "127.0.0.1", family: nil)
    #expect(old.problem(readFrom: old.fileName) == nil)
    // Either spelling of a state (data saves RFC 9293's).
    var halfClosed = old
    halfClosed.state = "CLOSE-WAIT"
    #expect(halfClosed.problem(readFrom: old.fileName) == nil)
    halfClosed.state = "HALF-OPEN"
    #expect(halfClosed.problem(readFrom: old.fileName) == "unknown state")
  }
}
