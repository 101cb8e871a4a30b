import Foundation
import TestSupport
import Testing

/// What a user ran into, running the CLI as the README and `--help` say: each case failed before
/// its fix.
@Suite struct UserCheckTests {
  /// `tcpcraft data 127.0.0.1:8080` with the TEXT forgotten used to take "127.0.0.1:8080" as the
  /// text and send it into whatever session was saved (even one with another host). A lone
  /// HOST:PORT is now a missing TEXT: one line, exit 2, nothing sent and no session looked up.
  @Test(arguments: ["127.0.0.1:8080", "[::1]:8080"])
  func dataWithOnlyHostPortIsAMissingText(target: String) throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(["data", target])
    #expect(result.status == 2, "stdout: \(result.stdout) stderr: \(result.stderr)")
    #expect(result.errorLines == ["tcpcraft: data: missing TEXT after \(target) (like: tcpcraft data \(target) 'GET / HTTP/1.0\\r\\n\\r\\n')"])
    #expect(result.stdout.isEmpty)
    // TEXT alone (no HOST:PORT) is still text: it goes on to look for a session.
    let text = try runner.run(["data", "hello"])
    #expect(text.status != 2, "stderr: \(text.stderr)")
  }

  /// `tcpcraft help --help` (and `help help`) print the main help, exit 0; they used to say
  /// `no command "--help"` and exit 2.
  @Test(arguments: [["help", "--help"], ["help", "-h"], ["help", "help"], ["--help", "--help"]])
  func helpAboutHelpIsTheMainHelp(arguments: [String]) throws {
    let result = try CommandRunner().run(arguments)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.stdout.hasPrefix("tcpcraft — craft TCP segments"), "\(result.stdout.prefix(200))")
    #expect(result.stderr.isEmpty)
  }

  /// `tcpcraft` alone printed the whole help (40 lines) on stderr: bad usage is one line, exit 2.
  @Test func noCommandIsOneLine() throws {
    let result = try CommandRunner().run([])
    #expect(result.status == 2)
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.hasPrefix("tcpcraft: missing command: one of demo, handshake, fin, send, "), "\(result.stderr)")
    #expect(result.stdout.isEmpty)
  }

  /// `sniff -c 0` ended at once with "0 packets captured", as if it had listened; tcpdump says
  /// the count is invalid. Now one line, exit 2, before any socket is opened.
  @Test func sniffCountZeroIsABadCount() throws {
    let result = try CommandRunner().run(["sniff", "-i", "lo", "-c", "0", "--timeout", "1"])
    #expect(result.status == 2, "stdout: \(result.stdout) stderr: \(result.stderr)")
    #expect(result.errorLines == ["tcpcraft: -c: \"0\" is not a number from 1 to 4294967295"])
  }

  /// `send --ip-flags` and `--frag-offset`: bad values, the wrong family, or at rate get one line
  /// and exit 2 (before any privilege is needed).
  @Test(arguments: [
    (["127.0.0.1:9", "--ip-flags", "XF"], "tcpcraft: --ip-flags: \"XF\" is not a set of IPv4 flags (like DF, MF, DF,MF, evil, none)"),
    (["127.0.0.1:9", "--ip-flags", ","], "tcpcraft: --ip-flags: \",\" is not a set of IPv4 flags (like DF, MF, DF,MF, evil, none)"),
    (["127.0.0.1:9", "--frag-offset", "8192"], "tcpcraft: --frag-offset: \"8192\" is not a number from 0 to 8191"),
    (["[::1]:9", "--frag-offset", "1"], "tcpcraft: send: --frag-offset is an IPv4 header field; [::1]:9 is IPv6 (its fragments are an extension header)"),
    (["[::1]:9", "--ip-flags", "MF"], "tcpcraft: send: --ip-flags is an IPv4 header field; [::1]:9 is IPv6 (its fragments are an extension header)"),
    (["127.0.0.1:9", "--ip-flags", "MF", "--count", "3"], "tcpcraft: send: --ip-flags shapes one segment; it is not available with --count, --rate or --duration"),
  ])
  func badFragmentArgumentsGetOneLine(arguments: [String], message: String) throws {
    let result = try CommandRunner().run(["send"] + arguments + ["--flags", "S"])
    #expect(result.status == 2)
    #expect(result.errorLines == [message])
  }

  /// `send --ip-flags MF`: a SYN marked as the first fragment of a longer datagram reaches the
  /// listener's kernel, which keeps it for reassembly and answers nothing; the same SYN with DF
  /// (the default) is answered. The flag and the offset are really on the wire: the pcap's IPv4
  /// header carries them, and tcpdump reads them back. The live line does not claim the kernel
  /// went "already" anywhere for a segment it only held.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func moreFragmentsHoldsTheSYNWhileDFIsAnswered() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let listener = try Listener()
    let port = String(listener.port)
    let held = TemporaryFiles.path("usercheck-mf.pcap")
    let answered = TemporaryFiles.path("usercheck-df.pcap")
    let offset = TemporaryFiles.path("usercheck-offset.pcap")
    defer { for path in [held, answered, offset] { try? FileManager.default.removeItem(atPath: path) } }

    let fragment = try runner.run([
      "send", "127.0.0.1:\(port)", "--flags", "S", "--ip-flags", "MF", "--expect", "S.", "--timeout", "1", "--pcap", held,
      "--no-ladder",
    ])
    #expect(fragment.status == 1, "stdout: \(fragment.stdout) stderr: \(fragment.stderr)")
    #expect(fragment.stderr.contains("no reply"), "stderr: \(fragment.stderr)")
    #expect(!fragment.stdout.contains("already LISTEN"), "\(fragment.stdout)")
    // Lines are told apart by " out " and " in ": the state column must not say either.
    #expect(fragment.lines.filter { $0.contains(" out IP ") }.allSatisfy { !$0.contains(" in ") }, "\(fragment.stdout)")
    let heldBytes = try pcapFirstPacket(held)
    #expect(heldBytes.count >= 20 && heldBytes[6] & 0xE0 == 0x20 && heldBytes[7] == 0, "flags/offset: \(heldBytes.prefix(8))")
    #expect(CommandRunner.shell(["tcpdump", "-nn", "-v", "-r", held]).contains("offset 0, flags [+]"))

    let whole = try runner.run([
      "send", "127.0.0.1:\(port)", "--flags", "S", "--ip-flags", "DF", "--expect", "S.", "--timeout", "3", "--pcap", answered,
      "--no-ladder",
    ])
    #expect(whole.status == 0, "stdout: \(whole.stdout) stderr: \(whole.stderr)")
    let answeredBytes = try pcapFirstPacket(answered)
    #expect(answeredBytes.count >= 20 && answeredBytes[6] & 0xE0 == 0x40, "flags: \(answeredBytes.prefix(8))")

    // A later fragment (offset 3 × 8 bytes): no TCP header to read, tcpdump's "ip-proto-6" line.
    let later = try runner.run([
      "send", "127.0.0.1:\(port)", "--flags", "S", "--ip-flags", "none", "--frag-offset", "3", "--timeout", "0.3", "--pcap",
      offset, "--no-ladder",
    ])
    #expect(later.status == 0, "stderr: \(later.stderr)")
    #expect(later.stdout.contains(" out IP 127.0.0.1 > 127.0.0.1: ip-proto-6"), "\(later.stdout)")
    let laterBytes = try pcapFirstPacket(offset)
    #expect(laterBytes.count >= 20 && laterBytes[6] == 0 && laterBytes[7] == 3, "flags/offset: \(laterBytes.prefix(8))")
    #expect(CommandRunner.shell(["tcpdump", "-nn", "-v", "-r", offset]).contains("offset 24, flags [none]"))
  }

  /// Against a hand-driven peer (`tcpcraft listen`, the seed 001 walkthrough), `fin` and `data`
  /// said `peer CLOSED` on their first line and `the peer's socket: gone (CLOSED)` at the end,
  /// though the peer was an ESTABLISHED `listen` and never a kernel socket. The handshake that
  /// found out now saves it, and every line says "no kernel socket here".
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func aHandDrivenPeerIsNeverCalledClosed() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = String(try closedPort())
    let server = try runner.start(["listen", port, "--timeout", "20", "--no-ladder"])
    #expect(server.waitForOutput { $0.contains { $0.hasPrefix("listening by hand on 127.0.0.1:\(port)") } })
    let handshake = try runner.run(["handshake", "127.0.0.1:\(port)", "--no-ladder"])
    #expect(handshake.status == 0, "stdout: \(handshake.stdout) stderr: \(handshake.stderr)")
    let data = try runner.run(["data", "127.0.0.1:\(port)", "hello", "--no-ladder"])
    #expect(data.status == 0, "stdout: \(data.stdout) stderr: \(data.stderr)")
    let fin = try runner.run(["fin", "--no-ladder"])
    #expect(fin.status == 0, "stdout: \(fin.stdout) stderr: \(fin.stderr)")
    _ = server.finish(timeout: 25)
    for (name, result) in [("data", data), ("fin", fin)] {
      let segments = result.lines.filter { $0.contains(" out IP ") || $0.contains(" in  IP ") }
      #expect(!segments.isEmpty, "\(name): \(result.stdout)")
      for line in segments {
        #expect(line.hasSuffix("| peer: no kernel socket here]"), "\(name): \(line)")
      }
    }
    #expect(fin.lines.last?.hasSuffix("; the peer: no kernel socket here (a hand-driven peer such as tcpcraft listen)") == true, "\(fin.stdout)")
  }

  /// `probe HOST:PORT --all` against a listener with python3's backlog of 5 (http.server,
  /// socketserver): twelve cases at once overflowed its SYN queue and the later cases came back
  /// "inconclusive: path broken" or "no reply". The probe now reads the listener's backlog
  /// (inet_diag) and holds at most three quarters of it at once.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func probeStaysUnderASmallListenersBacklog() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (fd, port) = try KernelSockets.listener(backlog: 5)
    // Its application accepts every connection and keeps it open (as a server waiting for a
    // request does) until the probe is over; bounded in count and time.
    let done = DispatchSemaphore(value: 0)
    let stop = NSLock()
    nonisolated(unsafe) var stopped = false
    Thread {
      var accepted: [Int32] = []
      let deadline = Date().addingTimeInterval(300)
      for _ in 0..<1_000_000 {
        if stop.withLock({ stopped }) || Date() > deadline { break }
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&ready, 1, 50) > 0 {
          let connection = accept(fd, nil, nil)
          if connection >= 0 && accepted.count < 1000 { accepted.append(connection) } else if connection >= 0 { close(connection) }
        }
      }
      for connection in accepted { close(connection) }
      done.signal()
    }.start()
    defer {
      stop.withLock { stopped = true }
      _ = done.wait(timeout: .now() + 10)
      close(fd)
    }
    let result = try CommandRunner().run(["probe", "127.0.0.1:\(port)", "--all"], timeout: 240)
    #expect(result.status == 0 || result.status == 1, "stderr: \(result.stderr)")
    #expect(result.stdout.contains("the listener on port \(port) has a backlog of 5: at most 3 cases hold state there at once"), "\(result.stdout.prefix(600))")
    #expect(!result.stdout.contains("path broken"), "\(result.stdout)")
    #expect(result.lines.contains { $0.hasPrefix("listen-syn ") && $0.hasSuffix("conforms") }, "\(result.stdout)")
  }

  /// The walkthrough's "`listen --close-now` with a real client": `listen --data` sent `\r\n`
  /// as four characters, so an HTTP client got no valid reply, never closed, and the merged
  /// close never happened. `--data` now takes `\r`, `\n`, `\t` as `data` does: python3's
  /// urllib reads the reply and closes, and our FIN+ACK answers its FIN (three segments).
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func listenDataTakesEscapesSoAnHTTPClientGetsItsReply() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = String(try closedPort())
    let server = try runner.start([
      "listen", port, "--close-now", "--timeout", "10", "--no-ladder",
      "--data", #"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhi\n"#,
    ])
    #expect(server.waitForOutput { $0.contains { $0.hasPrefix("listening by hand on 127.0.0.1:\(port)") } })
    let client = CommandRunner.shell([
      "timeout", "15", "python3", "-c",
      "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(port)/', timeout=8).read())",
    ])
    #expect(client.contains("b'hi\\n'"), "client: \(client)")
    let served = server.finish(timeout: 20)
    #expect(served.status == 0, "stdout: \(served.stdout) stderr: \(served.stderr)")
    #expect(served.lines.contains { $0.contains(" out IP 127.0.0.1.\(port) > ") && $0.contains("length 41") }, "\(served.stdout)")
    let fins = served.lines.filter { $0.contains("Flags [F.]") }
    #expect(fins.count == 2 && fins.last?.contains(" out ") == true && fins.last?.contains("[CLOSE-WAIT → LAST-ACK") == true, "\(served.stdout)")
  }

  /// `sniff -w` then `decode --pcap` (the README's flow) marked every kernel segment
  /// "[bad tcp cksum ...]", though kernel fact 6 says those checksums are only unfinished. The
  /// lines stay as they were (the stored value is not the right one), and one line on stderr now
  /// says how many are unfinished rather than corrupt; a checksum we forced is not counted.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func decodeSaysWhenBadChecksumsAreOnlyUnfinished() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let listener = try Listener()
    let captured = TemporaryFiles.path("usercheck-sniff.pcap")
    let forced = TemporaryFiles.path("usercheck-forced.pcap")
    defer { for path in [captured, forced] { try? FileManager.default.removeItem(atPath: path) } }
    let sniff = try runner.start(["sniff", "-i", "lo", "-c", "3", "--timeout", "10", "-w", captured, "tcp", "port", String(listener.port)])
    #expect(sniff.waitUntilCapturing())
    _ = CommandRunner.shell([
      "timeout", "10", "python3", "-c",
      "import socket; s = socket.create_connection(('127.0.0.1', \(listener.port)), timeout=5); s.close()",
    ])
    let sniffed = sniff.finish(timeout: 15)
    #expect(sniffed.status == 0, "stderr: \(sniffed.stderr)")
    let decoded = try runner.run(["decode", "--pcap", captured])
    #expect(decoded.status == 0)
    #expect(decoded.lines.count == 3, "\(decoded.stdout)")
    #expect(decoded.lines.allSatisfy { $0.contains("[bad tcp cksum") }, "\(decoded.stdout)")
    #expect(decoded.errorLines == [
      "tcpcraft decode: 3 packets marked \"bad cksum\" hold only the pseudo-header sum: captured before the kernel finished the checksum (offload, kernel fact 6), not corrupt; --checksum-not-ready leaves them unmarked"
    ])
    let quiet = try runner.run(["decode", "--pcap", captured, "--checksum-not-ready"])
    #expect(quiet.status == 0 && quiet.stderr.isEmpty && !quiet.stdout.contains("bad tcp cksum"), "\(quiet.stdout) \(quiet.stderr)")
    // A checksum forced by hand is bad, and only bad.
    let send = try runner.run(["send", "127.0.0.1:\(listener.port)", "--flags", "S", "--checksum", "0xdead", "--timeout", "0.2", "--pcap", forced])
    #expect(send.status == 0, "stderr: \(send.stderr)")
    let bad = try runner.run(["decode", "--pcap", forced])
    #expect(bad.status == 0 && bad.stdout.contains("[bad tcp cksum 0xdead -> 0x") && bad.stderr.isEmpty, "\(bad.stdout) \(bad.stderr)")
  }

  /// The first record of a little-endian µs pcap with LINKTYPE_RAW, as written by `--pcap`.
  private func pcapFirstPacket(_ path: String) throws -> [UInt8] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    guard bytes.count >= 40 else { return [] }
    let length = Int(bytes[32]) | Int(bytes[33]) << 8 | Int(bytes[34]) << 16 | Int(bytes[35]) << 24
    return Array(bytes[40..<min(bytes.count, 40 + length)])
  }
}
