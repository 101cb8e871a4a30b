import Foundation
import TestSupport
import Testing

/// What a class sees from the shell: seed 001's trace played line for line by two tcpcraft
/// processes, `--quiet`, printed times equal to the capture's, files written safely, `data`
/// inside a saved session, and clear usage errors for the new options.
@Suite(.serialized) struct TeachingTests {
  static func json(_ lines: [String]) -> [[String: Any]] {
    lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
  }

  static func tempDirectory() throws -> String {
    let directory = NSTemporaryDirectory() + "tcpcraft-teach-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    return directory
  }

  /// Seed 001 (client 57273 → server 8080 there): flags, seq, ack, window and options of every
  /// line, TS values left out (they follow each side's clock). `nil` ack: not printed.
  static let article: [(from: String, flags: String, seq: UInt32?, ack: UInt32?, win: Int, options: String)] = [
    ("client", "S", 84_347_051, nil, 65535, "mss 16344,nop,wscale 5,nop,nop,TS val * ecr 0,sackOK,eol"),
    ("server", "S.", 2_958_367_133, 84_347_052, 65535, "mss 16344,nop,wscale 5,nop,nop,TS val * ecr *,sackOK,eol"),
    ("client", ".", nil, 2_958_367_134, 12759, "nop,nop,TS val * ecr *"),
    ("server", ".", nil, 84_347_052, 12759, "nop,nop,TS val * ecr *"),
    ("client", "F.", 84_347_052, 2_958_367_134, 12759, "nop,nop,TS val * ecr *"),
    ("server", ".", nil, 84_347_053, 12759, "nop,nop,TS val * ecr *"),
    ("client", ".", nil, 2_958_367_134, 12759, "nop,nop,TS val * ecr *"),
    ("server", "F.", 2_958_367_134, 84_347_053, 12759, "nop,nop,TS val * ecr *"),
    ("client", ".", nil, 2_958_367_135, 12759, "nop,nop,TS val * ecr *"),
  ]

  /// `Flags [S.], seq 2958367133, ack 84347052, win 65535, options [...]` → its parts, TS values starred.
  static func parts(_ summary: String) -> (flags: String, seq: UInt32?, ack: UInt32?, win: Int, options: String)? {
    guard let flagsStart = summary.range(of: "Flags [")?.upperBound,
      let flagsEnd = summary[flagsStart...].firstIndex(of: "]")
    else { return nil }
    let flags = String(summary[flagsStart..<flagsEnd])
    func number(after key: String) -> UInt32? {
      guard let start = summary.range(of: ", \(key) ")?.upperBound else { return nil }
      return UInt32(summary[start...].prefix { $0.isNumber })
    }
    var options = ""
    if let start = summary.range(of: "options [")?.upperBound, let end = summary[start...].firstIndex(of: "]") {
      options = String(summary[start..<end]).replacing(/TS val \d+/, with: "TS val *").replacing(/ecr [1-9]\d*/, with: "ecr *")
    }
    return (flags, number(after: "seq"), number(after: "ack"), Int(number(after: "win") ?? 0), options)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func seed001TraceLineForLine() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let serverPort = try KernelSockets.unusedPort()
    let clientPort = try KernelSockets.unusedPort()
    let listen = try runner.start([
      "listen", String(serverPort), "--isn", "2958367133", "--window", "65535", "--ack-window", "12759",
      "--mss", "16344", "--wscale", "5", "--timestamps", "--tsval", "1525310591", "--sack-perm", "--window-update",
      "--close-delay", "0.007", "--close-after-update", "--timeout", "10", "--json",
    ])
    // Its capture is open once its RST guard is (the guard comes second): wait for that, bounded.
    #expect(waitUntil(seconds: 10) { CommandRunner.guardTablesExist(holder: listen.process.processIdentifier) })
    let handshake = try runner.run([
      "handshake", "127.0.0.1:\(serverPort)", "--sport", String(clientPort), "--isn", "84347051", "--window", "65535",
      "--ack-window", "12759", "--mss", "16344", "--wscale", "5", "--timestamps", "--tsval", "1525310591", "--sack-perm",
      "--quiet",
    ])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    // The server's window update (line 4) is out before the client's FIN: wait until it says so.
    #expect(listen.waitForOutput(timeout: 10) { lines in
      Self.json(lines).filter { $0["type"] as? String == "segment" }.count >= 4
    })
    let fin = try runner.run(["fin", "127.0.0.1:\(serverPort)", "--window", "12759", "--window-update", "--quiet"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    let served = listen.finish(timeout: 15)
    #expect(served.status == 0, "stderr: \(served.stderr)")
    // The server saw every segment of the conversation: both directions, in order.
    let segments = Self.json(served.lines).filter { $0["type"] as? String == "segment" }
    #expect(segments.count == Self.article.count)
    for (index, (segment, line)) in zip(segments, Self.article).enumerated() {
      let direction = segment["direction"] as? String
      #expect(direction == (line.from == "server" ? "out" : "in"), "line \(index + 1)")
      let summary = segment["summary"] as? String ?? ""
      let got = try #require(Self.parts(summary), "line \(index + 1): \(summary)")
      #expect(got.flags == line.flags, "line \(index + 1): \(summary)")
      if let seq = line.seq { #expect(got.seq == seq, "line \(index + 1): \(summary)") }
      if let ack = line.ack { #expect(got.ack == ack, "line \(index + 1): \(summary)") }
      #expect(got.win == line.win, "line \(index + 1): \(summary)")
      #expect(got.options == line.options, "line \(index + 1): \(summary)")
    }
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func quietKeepsOnlyTheFinalLine() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let demo = try runner.run(["demo", "--quiet", "--no-pcap"])
    #expect(demo.status == 0, "stderr: \(demo.stderr)")
    #expect(demo.lines.count == 1)
    #expect(demo.lines.first?.hasPrefix("Done: ") == true)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func printedTimesAreTheCapturesAndFilesAreWrittenSafely() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let directory = try Self.tempDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // A symlink planted where the SVG goes: never written through, and (issue 11: nothing that is
    // not a regular file of ours is replaced) refused with one line; the other files are written.
    let victim = directory + "/victim.txt"
    try "keep me".write(toFile: victim, atomically: false, encoding: .utf8)
    try FileManager.default.createSymbolicLink(atPath: directory + "/ladder.svg", withDestinationPath: victim)
    let demo = try runner.run(
      ["demo", "--pcap", "t.pcap", "--pcapng", "t.pcapng", "--svg", "ladder.svg", "--no-ladder"], directory: directory)
    #expect(demo.status == 0, "stderr: \(demo.stderr)")
    #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
    let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/ladder.svg")
    #expect(attributes[.type] as? FileAttributeType == .typeSymbolicLink)
    #expect(demo.stderr.contains("cannot write ladder.svg: refused: it is a symbolic link"), "\(demo.stderr)")
    try FileManager.default.removeItem(atPath: directory + "/ladder.svg")
    let again = try runner.run(["demo", "--quiet", "--no-pcap", "--svg", "ladder.svg"], directory: directory)
    #expect(again.status == 0, "stderr: \(again.stderr)")
    #expect(try String(contentsOfFile: directory + "/ladder.svg", encoding: .utf8).contains("<svg"))
    // The printed times, counted from the first segment, are the capture files' relative times.
    let printed = demo.lines.compactMap { line -> String? in
      guard line.contains(" IP 127.0.0.1."), let time = line.split(separator: " ").first, time.contains(".") else { return nil }
      return String(time)
    }
    guard let tshark = Privileges.toolPath("tshark") else { return }
    for file in ["t.pcap", "t.pcapng"] {
      let output = CommandRunner.shell([tshark, "-r", directory + "/" + file, "-T", "fields", "-e", "frame.time_relative"])
      let relative = output.split(separator: "\n").compactMap { Double($0) }.map { String(format: "%.6f", $0) }
      // tshark rounds to the nearest microsecond; we cut: allow one microsecond.
      #expect(relative.count == printed.count, "\(file)")
      for (ours, theirs) in zip(printed, relative) {
        let difference = abs((Double(ours) ?? -1) - (Double(theirs) ?? -2))
        #expect(difference <= 0.0000015, "\(file): printed \(ours), capture \(theirs)")
      }
    }
    let comments = CommandRunner.shell([tshark, "-r", directory + "/t.pcapng", "-T", "fields", "-e", "frame.comment"])
    #expect(comments.split(separator: "\n").first?.contains("us: CLOSED → SYN-SENT | peer: LISTEN → SYN-RECEIVED") == true)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func dataInsideASavedSession() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let handshake = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--quiet"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let data = try runner.run(["data", "127.0.0.1:\(server.port)", "hello\\n", "--json"])
    #expect(data.status == 0, "stderr: \(data.stderr)")
    let objects = Self.json(data.lines)
    let first = try #require(objects.first { $0["type"] as? String == "segment" })
    #expect(first["flags"] as? String == "PSH,ACK")
    #expect(first["len"] as? Int == 6)
    // The session moved on: fin closes at the new numbers, and the listener got the 6 bytes.
    let result = try #require(objects.last)
    let sendNext = try #require(result["snd_nxt"] as? Int)
    let fin = try runner.run(["fin", "--json"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    let finSegment = try #require(Self.json(fin.lines).first { $0["flags"] as? String == "FIN,ACK" })
    #expect(finSegment["seq"] as? Int == sendNext)
    #expect(server.waitUntilFinished())
  }

  @Test func newOptionsRejectBadInputInOneLine() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    for (arguments, text) in [
      (["listen", "9000", "--half-close"], "--half-close sends --data"),
      (["listen", "9000", "--mss", "70000"], "--mss"),
      (["listen", "9000", "--close-now", "--close-delay", "1"], "--close-delay"),
      (["listen", "9000", "--close-after-update"], "give --close-delay SECONDS too"),
      (["data", "127.0.0.1:9000", ""], "empty"),
      (["data"], "missing TEXT"),
    ] {
      let result = try runner.run(arguments)
      #expect(result.status == 2, "\(arguments): \(result.stderr)")
      #expect(result.errorLines.count == 1, "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains(text), "\(arguments): \(result.stderr)")
    }
    let noSession = try runner.run(["data", "127.0.0.1:9", "x"])
    #expect(noSession.status == 1)
    #expect(noSession.stderr.contains("no saved session"))
  }
}
