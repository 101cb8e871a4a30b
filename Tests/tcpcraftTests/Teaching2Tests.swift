import Foundation
import Testing
import TestSupport

/// `demo --serve`'s modes driven by `tcpcraft handshake` and `fin` (real kernel listeners on lo),
/// and an unguarded `send` showing our own kernel's RST.
@Suite("Teaching 2: demo --serve modes, our kernel's RST", .serialized)
struct Teaching2Tests {
  /// Starts `demo --serve` with `extra` on a free port and waits (bounded) until the port is
  /// held.
  static func serve(_ runner: CommandRunner, _ extra: [String]) throws -> (CommandRunner.Running, UInt16) {
    let port = try closedPort()
    let server = try runner.start(["demo", "--serve", "--port", String(port), "--duration", "30"] + extra)
    #expect(waitUntil(seconds: 5) { held(port) }, "demo --serve holds port \(port)")
    return (server, port)
  }

  /// `demo --serve` with `extra`, then `tcpcraft handshake` and `tcpcraft fin` against it; the
  /// output of `fin`.
  static func closeAgainst(_ extra: [String], fin finArguments: [String] = []) throws -> CommandRunner.Result {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (server, port) = try serve(runner, extra)
    defer { _ = server.finish(timeout: 0.1) }
    let handshake = try runner.run(["handshake", "127.0.0.1:\(port)"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let fin = try runner.run(["fin"] + finArguments)
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    return fin
  }

  /// Whether a socket holds 127.0.0.1:`port` (a bind without SO_REUSEADDR fails).
  static func held(_ port: UInt16) -> Bool {
    guard let (fd, _) = try? KernelSockets.bound(port: port) else { return true }
    close(fd)
    return false
  }

  /// The lines of a transcript after the handshake, as (direction, flags, payload length).
  static func segments(_ lines: [String]) -> [(direction: String, flags: String, length: Int)] {
    lines.compactMap { line in
      guard let flagsStart = line.range(of: "Flags [")?.upperBound,
        let flagsEnd = line[flagsStart...].firstIndex(of: "]")
      else { return nil }
      let direction = line.contains(" out ") ? "out" : line.contains(" in ") ? "in" : "?"
      let length = line.range(of: "length ").map { Int(line[$0.upperBound...].prefix { $0.isNumber }) ?? -1 } ?? -1
      return (direction, String(line[flagsStart..<flagsEnd]), length)
    }
  }

  @Test(
    "demo --serve --close-now: the ACK of our FIN rides on the server's FIN (three segments, one FIN+ACK)",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func closeNowMergesTheFINAndTheACK() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // The merge is the kernel's: the ACK of our FIN waits on the delayed-ACK timer (40 ms at
    // least) while the server reads EOF and closes. On a loaded machine the server thread can be
    // scheduled after the timer fired, and then ACK and FIN go apart. Up to three tries: the
    // merged form must appear, and a try that shows it is checked in full.
    var fin = try Self.closeAgainst(["--close-now"])
    for _ in 0..<2 where Self.segments(fin.lines).map(\.flags) == ["F.", ".", "F.", "."] {
      fin = try Self.closeAgainst(["--close-now"])
    }
    let closing = Self.segments(fin.lines)
    #expect(closing.map(\.direction) == ["out", "in", "out"], "\(fin.stdout)")
    #expect(closing.map(\.flags) == ["F.", "F.", "."], "\(fin.stdout)")
    #expect(!fin.stdout.contains("FIN-WAIT-2"), "the merged FIN+ACK skips FIN-WAIT-2: \(fin.stdout)")
    #expect(fin.stdout.contains("TIME-WAIT"))
  }

  @Test(
    "demo --serve (the default): ACK and FIN apart, the textbook four segments",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func defaultCloseIsFourSegments() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let fin = try Self.closeAgainst([])
    #expect(Self.segments(fin.lines).map(\.flags) == ["F.", ".", "F.", "."], "\(fin.stdout)")
    #expect(fin.stdout.contains("FIN-WAIT-2"))
  }

  @Test(
    "demo --serve --half-close: data arrives after our FIN, then the server's FIN",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func halfCloseKeepsSending() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let fin = try Self.closeAgainst(["--half-close", "--close-delay", "0.1"], fin: ["--timeout", "3"])
    let closing = Self.segments(fin.lines)
    let ourFIN = try #require(closing.firstIndex { $0.direction == "out" && $0.flags.contains("F") }, "\(fin.stdout)")
    let theirFIN = try #require(closing.firstIndex { $0.direction == "in" && $0.flags.contains("F") }, "\(fin.stdout)")
    let dataAfter = closing[ourFIN..<theirFIN].filter { $0.direction == "in" && $0.length > 0 }
    #expect(dataAfter.count >= 1, "the server kept sending after our FIN: \(fin.stdout)")
    #expect(closing[ourFIN].direction == "out" && ourFIN < theirFIN)
  }

  @Test(
    "demo --serve --refuse: the port is held but nothing listens; a SYN gets RST+ACK and handshake exits 1",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func refuseAnswersRST() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (server, port) = try Self.serve(runner, ["--refuse"])
    defer { _ = server.finish(timeout: 0.1) }
    let handshake = try runner.run(["handshake", "127.0.0.1:\(port)"])
    #expect(handshake.status == 1)
    #expect(Self.segments(handshake.lines).map(\.flags) == ["S", "R."], "\(handshake.stdout)")
    // The port stays held while demo runs.
    #expect(Self.held(port))
    let output = server.finish(timeout: 0.1).stdout
    #expect(output.contains("with no listener"), "\(output)")
  }

  @Test("demo --serve: two closing modes at once are one usage error")
  func conflictingModes() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(["demo", "--serve", "--close-now", "--refuse"])
    #expect(result.status == 2)
    #expect(result.errorLines.count == 1 && result.stderr.contains("not several"))
    let badNamespace = try runner.run(["demo", "--serve", "--netns", "../x"])
    #expect(badNamespace.status == 2 && badNamespace.errorLines.count == 1)
  }

  @Test(
    "An unguarded send shows our own kernel's RST to the peer's SYN+ACK, with why",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func unguardedSendShowsOurKernelsRST() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let sport = try closedPort()
    let result = try runner.run(["send", "127.0.0.1:\(server.port)", "--flags", "S", "--sport", String(sport), "--expect", "S."])
    #expect(result.status == 0, "stderr: \(result.stderr)")
    let kernelLine = try #require(result.lines.first { $0.hasPrefix("our kernel ") }, "\(result.stdout)")
    #expect(kernelLine.contains("127.0.0.1.\(sport) > 127.0.0.1.\(server.port): Flags [R]"))
    #expect(result.stdout.contains("--guard"))
    #expect(result.lines.last?.contains("then our own kernel reset the connection") == true, "\(result.stdout)")
    // In JSON, one object of its own.
    let json = try runner.run(["send", "127.0.0.1:\(server.port)", "--flags", "S", "--expect", "S.", "--json"])
    #expect(json.lines.contains { $0.hasPrefix("{\"type\":\"kernel_rst\"") && $0.contains("Flags [R]") }, "\(json.stdout)")
    // With the guard, no RST leaves and none is shown.
    let guarded = try runner.run(["send", "127.0.0.1:\(server.port)", "--flags", "S", "--expect", "S.", "--guard"])
    #expect(guarded.status == 0, "stderr: \(guarded.stderr)")
    #expect(!guarded.lines.contains { $0.hasPrefix("our kernel ") })
    // A crafted RST of ours is not taken for the kernel's.
    let crafted = try runner.run(["send", "127.0.0.1:\(server.port)", "--flags", "R", "--seq", "1"])
    #expect(!crafted.lines.contains { $0.hasPrefix("our kernel ") }, "\(crafted.stdout)")
  }

  @Test(
    "demo --serve --netns: in a namespace whose lo cuts at the MSS, a 1500-byte echo comes back in MSS-sized segments",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func servesInANamespaceWhereMSSShows() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let name = "tcpcraft-t2-\(getpid())"
    let inNamespace = ["ip", "netns", "exec", name]
    #expect(CommandRunner.shell(["ip", "netns", "add", name]).isEmpty)
    defer { _ = CommandRunner.shell(["ip", "netns", "del", name]) }
    _ = CommandRunner.shell(["ip", "-n", name, "link", "set", "lo", "up"])
    _ = CommandRunner.shell(["ip", "-n", name, "link", "set", "lo", "gso_max_size", "1000"])
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port: UInt16 = 9000
    let server = try runner.start(["demo", "--serve", "--netns", name, "--port", String(port), "--duration", "30"])
    defer { _ = server.finish(timeout: 0.1) }
    #expect(waitUntil(seconds: 5) { CommandRunner.shell(inNamespace + ["ss", "-ltnH", "sport = :\(port)"]).contains(":\(port)") })
    // Not on the host: the listener lives in the namespace only.
    #expect(!CommandRunner.shell(["ss", "-ltnH", "sport = :\(port)"]).contains("127.0.0.1:\(port)"))
    let handshake = try runner.run(["handshake", "127.0.0.1:\(port)", "--mss", "536"], prefix: inNamespace)
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let text = String(repeating: "x", count: 1500)
    let data = try runner.run(["data", "127.0.0.1:\(port)", text, "--no-ladder"], prefix: inNamespace)
    #expect(data.status == 0, "stderr: \(data.stderr)")
    let echoed = Self.segments(data.lines).filter { $0.direction == "in" && $0.length > 0 }
    #expect(echoed.map(\.length).reduce(0, +) == 1500, "\(data.stdout)")
    #expect(echoed.count >= 3 && echoed.allSatisfy { $0.length <= 536 }, "cut at the MSS: \(echoed.map(\.length))")
    _ = try runner.run(["fin"], prefix: inNamespace)
  }
}
