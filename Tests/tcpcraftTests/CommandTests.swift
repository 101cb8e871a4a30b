import Foundation
import TestSupport
import Testing

/// The `tcpcraft` binary end to end, as a user runs it: exit statuses, messages, and what really
/// happened to a kernel listener on loopback.
@Suite(.serialized) struct CommandTests {
  // MARK: - handshake, then fin, as two separate processes

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func handshakeThenFinInSeparateProcesses() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let handshake = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--isn", "84347051", "--json"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let objects = handshake.jsonObjects
    #expect(objects.count == handshake.lines.count)  // every line is one JSON object
    #expect(objects.count == 4)  // SYN, SYN+ACK, ACK, result
    #expect(objects.first?["flags"] as? String == "SYN")
    #expect(objects.first?["seq"] as? Int == 84_347_051)
    #expect(objects.dropFirst().first?["ack"] as? Int == 84_347_052)
    let result = try #require(objects.last)
    #expect(result["type"] as? String == "result")
    #expect(result["state"] as? String == "ESTABLISHED")
    let holder = try #require((result["guard_pid"] as? String).flatMap { Int32($0) })
    #expect(kill(holder, 0) == 0)  // the guard holder outlives `handshake`
    #expect(CommandRunner.guardTablesExist(holder: holder))
    // The listener's accept() returned: the handshake really completed.
    #expect(waitUntil { server.log.contains("accepted") })
    #expect(server.connections().map(\.state) == ["01"])  // ESTABLISHED

    // A second process closes it: FIN at ISN + 1.
    let fin = try runner.run(["fin", "--seq", "84347052"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    let finLine = try #require(fin.lines.first { $0.contains("Flags [F.]") })
    #expect(finLine.contains("out IP 127.0.0.1."))
    #expect(finLine.contains(": Flags [F.], seq 84347052, ack "))
    #expect(finLine.contains("ESTABLISHED → FIN-WAIT-1"))
    #expect(fin.lines.contains { $0.contains("TIME-WAIT") })
    // The listener saw EOF (recv returned 0), closed, and its socket is gone; so are the holder
    // and its table.
    server.expectClosedWithNothingLeft(holder: holder)
    #expect(!FileManager.default.fileExists(atPath: runner.sessionDirectory + "/127.0.0.1_\(server.port)_\(result["local"] as? String ?? "")"))
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: runner.sessionDirectory)) ?? []).isEmpty)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func killingTheGuardHolderLeavesNoFirewallState() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let holder = try runner.establish(server)
    #expect(CommandRunner.guardTablesExist(holder: holder))
    kill(holder, SIGKILL)
    #expect(waitUntil { !CommandRunner.guardTablesExist(holder: holder) })
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func guardHolderLeavesAfterItsIdleTimeout() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let handshake = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--json", "--hold", "0.5"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let holder = try #require(handshake.guardHolderPID)
    #expect(waitUntil(seconds: 5) { kill(holder, 0) != 0 && !CommandRunner.guardTablesExist(holder: holder) })
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func finStillClosesAfterTheHolderTimedOut() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let handshake = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--json", "--hold", "0.3"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let result = try #require(handshake.jsonObjects.last)
    let holder = try #require((result["guard_pid"] as? String).flatMap { Int32($0) })
    #expect(waitUntil(seconds: 5) { kill(holder, 0) != 0 })
    // A holder that leaves takes its session file with it (issue 11)...
    #expect(waitUntil { ((try? FileManager.default.contentsOfDirectory(atPath: runner.sessionDirectory)) ?? []).isEmpty })
    // ...but the idle connection survives its guard (kernel fact 4), and fin, given the numbers
    // handshake printed, brings a guard of its own.
    let localPort = try #require((result["local"] as? String)?.split(separator: ":").last.map(String.init))
    let fin = try runner.run([
      "fin", "127.0.0.1:\(server.port)", "--json", "--sport", localPort,
      "--seq", String(try #require(result["snd_nxt"] as? Int)), "--ack", String(try #require(result["rcv_nxt"] as? Int)),
    ])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    #expect(fin.jsonObjects.last?["state"] as? String == "TIME-WAIT")
    #expect(server.waitUntilFinished())
    #expect(server.log == ["accepted", "eof", "closed"])
  }

  // MARK: - demo

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func demoRunsTheWholeExchangeAndWritesAPcap() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let directory = runner.sessionDirectory + "-cwd"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let demo = try runner.run(["demo", "--explain"], directory: directory)
    #expect(demo.status == 0, "stderr: \(demo.stderr)")
    let text = demo.stdout
    for state in ["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "peer LISTEN → SYN-RECEIVED", "peer ESTABLISHED"] {
      #expect(text.contains(state), "missing \(state)")
    }
    #expect(text.contains("↳ Our SYN carries our initial sequence number"))
    #expect(text.contains("accept() returned"))
    #expect(text.contains("recv() → 0 (EOF"))
    #expect(text.contains("|-- SYN seq="))  // the ladder
    let pcap = directory + "/tcpcraft-demo.pcap"
    #expect(text.contains(pcap))
    // tcpdump reads what we wrote, one line per segment of the transcript.
    let segmentLines = demo.lines.filter { $0.contains(" out IP ") || $0.contains(" in  IP ") }
    let tcpdump = CommandRunner.shell(["tcpdump", "-nn", "-S", "-t", "-r", pcap]).split(separator: "\n").map(String.init)
    #expect(tcpdump.count == segmentLines.count)
    // The kernel's segments were captured with unfinished checksums (CHECKSUM_PARTIAL); the pcap
    // holds them as they would cross a wire, so nothing is called "incorrect".
    let verbose = CommandRunner.shell(["tcpdump", "-nn", "-v", "-r", pcap])
    #expect(verbose.contains("cksum"))
    #expect(!verbose.contains("incorrect"))
    // ... and prints exactly the summaries we printed.
    for (ours, theirs) in zip(segmentLines, tcpdump) {
      #expect(ours.contains(theirs), "\(ours) vs \(theirs)")
    }
  }

  // MARK: - listen and sniff

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func listenServesARealClientByHand() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = try closedPort()
    let listen = try runner.start(["listen", String(port), "--data", "hello from tcpcraft", "--timeout", "5"])
    // The command needs a moment to open its capture and guard; until then the kernel refuses
    // (RST), so retry the connection (bounded).
    var received: [UInt8]?
    for _ in 0..<50 where received == nil {
      received = Client.exchange(port: port, send: "hi there")
      if received == nil { usleep(50_000) }
    }
    let result = listen.finish(timeout: 10)
    #expect(received == Array("hello from tcpcraft".utf8))
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.stdout.contains("ESTABLISHED with 127.0.0.1:"))
    #expect(result.stdout.contains("received 8 bytes \"hi there\""))
    #expect(result.lines.contains { $0.contains("LISTEN → SYN-RECEIVED") })
    #expect(result.lines.contains { $0.contains("CLOSE-WAIT → LAST-ACK") })
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sniffPrintsTcpdumpLinesForTheFilter() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let sniff = try runner.start(["sniff", "-i", "lo", "-c", "2", "--timeout", "5", "tcp", "port", String(server.port), "and", "tcp[tcpflags]", "&", "tcp-syn", "!=", "0"])
    #expect(sniff.waitUntilCapturing())
    // One connection: its SYN and the SYN+ACK match the filter; nothing else does.
    _ = Client.exchange(port: server.port, send: "x")
    let result = sniff.finish(timeout: 10)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.lines.count == 2)
    #expect(result.lines.first?.hasPrefix("IP 127.0.0.1.") == true)
    #expect(result.lines.first?.contains("> 127.0.0.1.\(server.port): Flags [S], seq ") == true)
    #expect(result.lines.last?.contains("127.0.0.1.\(server.port) > 127.0.0.1.") == true)
    #expect(result.lines.last?.contains("Flags [S.]") == true)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func demoAsJSONLines() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let demo = try runner.run(["demo", "--json", "--no-pcap"])
    #expect(demo.status == 0, "stderr: \(demo.stderr)")
    let objects = demo.jsonObjects
    #expect(objects.count == demo.lines.count)
    let segments = objects.filter { $0["type"] as? String == "segment" }
    #expect(segments.count == objects.count - 1)
    #expect(objects.last?["type"] as? String == "result")
    #expect(objects.last?["ok"] as? Bool == true)
    // The states walk the textbook path, and the listener's kernel states come along.
    let ours = segments.compactMap { $0["state_after"] as? String }
    #expect(ours.first == "SYN-SENT")
    #expect(ours.contains("FIN-WAIT-1"))
    #expect(ours.last == "TIME-WAIT")
    #expect(segments.first?["peer_state"] as? String == "SYN-RECEIVED")
    #expect(segments.first?["peer_state_before"] as? String == "LISTEN")
    for segment in segments {
      for key in ["time", "direction", "summary", "src", "sport", "dst", "dport", "flags", "seq", "ack", "win", "len", "state_before"] {
        #expect(segment[key] != nil, "missing \(key)")
      }
    }
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func handshakeWritesAPcapAndRelativeNumbers() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let pcap = runner.sessionDirectory + "-handshake.pcap"
    defer { try? FileManager.default.removeItem(atPath: pcap) }
    let handshake = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--pcap", pcap, "--relative", "--isn", "1000"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    // Relative: the SYNs keep absolute numbers, the ACK counts from the ISNs (ack 1).
    #expect(handshake.lines.contains { $0.contains("Flags [S], seq 1000,") })
    #expect(handshake.lines.contains { $0.contains("Flags [.], ack 1, win") })
    let tcpdump = CommandRunner.shell(["tcpdump", "-nn", "-S", "-t", "-r", pcap]).split(separator: "\n")
    #expect(tcpdump.count == 3)
    #expect(tcpdump.first?.contains("Flags [S], seq 1000,") == true)
    _ = try runner.run(["fin"])
    #expect(server.waitUntilFinished())
  }

  // MARK: - errors

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func closedPortShowsTheRSTAndExitsOne() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = try closedPort()
    let result = try runner.run(["handshake", "127.0.0.1:\(port)"])
    #expect(result.status == 1)
    #expect(result.lines.contains { $0.contains("Flags [R.]") && $0.contains("port closed") })
    #expect(result.stderr.contains("port closed"))
    #expect(result.errorLines.count == 1)
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: runner.sessionDirectory)) ?? []).isEmpty)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func noReplySaysWhatItWaitedForAndHowLong() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    // A SYN with a bad checksum: the kernel drops it, nothing comes back.
    let result = try runner.run([
      "send", "127.0.0.1:\(server.port)", "--flags", "S", "--checksum", "dead", "--expect", "S.", "--timeout", "0.5",
    ])
    #expect(result.status == 1)
    #expect(result.stderr.contains("no reply: waited 500 ms for Flags [S.]"))
    #expect(result.errorLines.count == 1)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sendExpectsTheReply() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let result = try runner.run([
      "send", "127.0.0.1:\(server.port)", "--flags", "S", "--seq", "1000", "--option", "mss=1460", "--expect", "S.",
    ])
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.lines.contains { $0.contains("Flags [S], seq 1000, win 65535, options [mss 1460], length 0") })
    #expect(result.lines.contains { $0.contains("Flags [S.]") && $0.contains("ack 1001") })
  }

  @Test func noPrivilegesGivesTheCapabilityMessage() throws {
    guard Privileges.hostRoot else { return }  // needs the host's root to drop to nobody
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    // A copy nobody can reach and run (the build directory may sit under a private home).
    let binary = try #require(CommandRunner.binary)
    let directory = runner.sessionDirectory + "-bin"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let copy = directory + "/tcpcraft"
    try FileManager.default.copyItem(atPath: binary, toPath: copy)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
    // (demo is not here: without the capabilities it runs in a private namespace, see NoRootTests.)
    for command in [["handshake", "127.0.0.1:9"], ["send", "127.0.0.1:9", "--flags", "S"], ["sniff", "-c", "1"]] {
      let result = try runner.run(command, prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], binary: copy)
      #expect(result.status != 0)
      #expect(result.stderr.contains("CAP_NET_RAW"), "\(command): \(result.stderr)")
      #expect(result.errorLines.count == 1)
      #expect(!result.stderr.contains("Fatal error"))
    }
  }

  @Test(arguments: [
    ["handshake"],
    ["handshake", "127.0.0.1"],
    ["handshake", "127.0.0.1:0"],
    ["handshake", "127.0.0.1:70000"],
    ["handshake", "300.0.0.1:80"],
    ["handshake", "127.0.0.1:80", "--isn", "-1"],
    ["handshake", "127.0.0.1:80", "--isn", "4294967296"],
    ["handshake", "127.0.0.1:80", "--mss"],
    ["handshake", "127.0.0.1:80", "--wscale", "15"],
    ["handshake", "127.0.0.1:80", "--timeout", "soon"],
    ["handshake", "127.0.0.1:80", "--frobnicate"],
    ["fin", "--seq", "x"],
    ["send", "127.0.0.1:80"],
    ["send", "127.0.0.1:80", "--flags", "XYZ"],
    ["send", "127.0.0.1:80", "--flags", "S", "--data-hex", "abc"],
    ["send", "127.0.0.1:80", "--flags", "S", "--option", "mss=big"],
    ["send", "127.0.0.1:80", "--flags", "S", "--checksum", "zz"],
    ["listen", "abc"],
    ["sniff", "--count", "many"],
    ["sniff", "--filter", "tcp and and"],
    ["demo", "extra"],
    ["demo", "--close-delay", "soon"],
    ["sniff", "-c", "-5"],
    ["send", "127.0.0.1:80", "--flags", "S", "--data-offset", "16"],
    ["probe", "--generate", "all", "--random", "--count", "0"],
    ["help", "frobnicate"],
    ["frobnicate"],
    [],
  ])
  func badArgumentsGiveOneLineAndExitTwo(arguments: [String]) throws {
    let result = try CommandRunner().run(arguments)
    #expect(result.status == 2, "\(arguments): \(result.stderr)")
    if !arguments.isEmpty {
      #expect(result.errorLines.count == 1, "\(arguments): \(result.stderr)")
      #expect(result.stderr.hasPrefix("tcpcraft: "))
    }
    #expect(result.stdout.isEmpty)
  }

  @Test(arguments: ["handshake", "fin", "send", "listen", "sniff", "demo", "decode", "probe"])
  func helpForEveryCommandHasExamples(command: String) throws {
    let runner = CommandRunner()
    let result = try runner.run([command, "--help"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("usage: tcpcraft \(command)"))
    #expect(result.stdout.contains("example"))
    let viaHelp = try runner.run(["help", command])
    #expect(viaHelp.stdout == result.stdout)
  }

  @Test func mainHelp() throws {
    let result = try CommandRunner().run(["--help"])
    #expect(result.status == 0)
    for command in ["demo", "handshake", "fin", "send", "listen", "sniff", "decode"] {
      #expect(result.stdout.contains("  \(command) "))
    }
  }

  @Test func finWithoutASessionSaysSo() throws {
    guard getuid() == 0 else { return }
    let runner = CommandRunner()
    let result = try runner.run(["fin"])
    #expect(result.status == 1)
    #expect(result.stderr.contains("no saved session"))
  }
}
