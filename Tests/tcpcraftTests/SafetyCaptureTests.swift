import Foundation
import TestSupport
import Testing

/// Issue 11, items 1 and 6: every file tcpcraft writes refuses a planted link or another user's
/// file (root writing into a sticky, world-writable folder, as /tmp), and an interrupted capture
/// writes everything it captured and prints tcpdump's closing counts.
@Suite(.serialized) struct SafetyCaptureTests {
  static let nobody: uid_t = 65534

  /// A folder like /tmp (1777) with `target` (another user's file when we are root) and
  /// `name` → target, a planted link.
  final class Trap {
    let folder: String
    let target: String
    let link: String
    init(name: String) {
      folder = NSTemporaryDirectory() + "tcpcraft-trap-\(getpid())-\(UUID().uuidString.prefix(8))"
      mkdir(folder, 0o700)
      chmod(folder, 0o1777)
      target = folder + "/target"
      _ = FileManager.default.createFile(atPath: target, contents: Data("precious".utf8))
      if geteuid() == 0 { chown(target, SafetyCaptureTests.nobody, gid_t(SafetyCaptureTests.nobody)) }
      link = folder + "/" + name
      symlink(target, link)
    }
    deinit { try? FileManager.default.removeItem(atPath: folder) }
    var targetIntact: Bool { FileManager.default.contents(atPath: target) == Data("precious".utf8) }
  }

  @Test(
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"),
    arguments: [["sniff"], ["sniff", "--ring"]])
  func sniffRefusesAPlantedLink(mode: [String]) throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let trap = Trap(name: "ring.pcap")
    let result = try runner.run(mode + ["-i", "lo", "-w", trap.link, "-c", "1", "--timeout", "0.3"])
    #expect(result.status == 1)
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains("refused") && result.stderr.contains("symbolic link"), "\(result.stderr)")
    #expect(trap.targetIntact)
  }

  /// The same as a normal user holding the documented grant (a setcap copy under setpriv): the
  /// link is refused, an ordinary file is written and belongs to that user.
  @Test(.enabled(if: geteuid() == 0 && Privileges.haveTool("setcap"), "needs root and setcap"))
  func aSetcapUserSniffRefusesAPlantedLink() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let copy = try SafetyTestSupport.capableCopy(for: runner)
    defer { SafetyTestSupport.remove(copy) }
    let trap = Trap(name: "ring.pcap")
    chown(trap.target, 0, 0)  // root's file, planted under the user's feet
    for mode in [["sniff"], ["sniff", "--ring"]] {
      let result = try runner.run(
        mode + ["-i", "lo", "-w", trap.link, "-c", "1", "--timeout", "0.3"], prefix: SafetyTestSupport.asNobody, binary: copy)
      #expect(result.status == 1, "\(mode): \(result.stderr)")
      #expect(result.stderr.contains("refused"), "\(result.stderr)")
      let fine = trap.folder + "/fine\(mode.count).pcap"
      let written = try runner.run(
        mode + ["-i", "lo", "-w", fine, "-c", "1", "--timeout", "0.3"], prefix: SafetyTestSupport.asNobody, binary: copy)
      #expect(written.status == 0, "\(mode): \(written.stderr)")
      var info = stat()
      #expect(stat(fine, &info) == 0 && info.st_uid == 65534)
    }
    #expect(trap.targetIntact)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func pcapOptionsRefuseAPlantedLinkAndAnotherUsersFile() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let trap = Trap(name: "send.pcap")
    let port = try closedPort()
    let linked = try runner.run(["send", "127.0.0.1:\(port)", "--flags", "S", "--pcap", trap.link])
    #expect(linked.status == 1)
    #expect(linked.stderr.contains("refused"), "\(linked.stderr)")
    #expect(trap.targetIntact)
    // The file itself, another user's, planted where root writes.
    let theirs = trap.folder + "/theirs.pcap"
    _ = FileManager.default.createFile(atPath: theirs, contents: Data("theirs".utf8))
    if geteuid() == 0 { chown(theirs, Self.nobody, gid_t(Self.nobody)) }
    let foreign = try runner.run(["send", "127.0.0.1:\(port)", "--flags", "S", "--pcap", theirs])
    if geteuid() == 0 {
      #expect(foreign.status == 1)
      #expect(foreign.stderr.contains("belongs to uid 65534"), "\(foreign.stderr)")
      #expect(FileManager.default.contents(atPath: theirs) == Data("theirs".utf8))
    }
    // An ordinary path still works, and is replaced whole.
    let fine = trap.folder + "/fine.pcap"
    let written = try runner.run(["send", "127.0.0.1:\(port)", "--flags", "S", "--pcap", fine])
    #expect(written.status == 0, "\(written.stderr)")
    #expect(CommandRunner.shell(["tcpdump", "-nn", "-r", fine]).split(separator: "\n").count == 2)  // SYN, RST
  }

  /// Root's `sniff -w` racing a user who swaps the name between a link and a file: the target is
  /// never written, whatever the interleaving.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sniffWinsNoRenameRace() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let trap = Trap(name: "race.pcap")
    let stop = SafetyFlag()
    let link = trap.link
    let target = trap.target
    let attacker = Thread {
      for index in 0..<1_000_000 {
        if stop.isSet { break }
        unlink(link)
        if index % 2 == 0 { symlink(target, link) } else { _ = FileManager.default.createFile(atPath: link, contents: nil) }
      }
    }
    attacker.start()
    defer { stop.set() }
    for _ in 0..<12 {
      _ = try runner.run(["sniff", "-i", "lo", "-w", link, "-c", "1", "--timeout", "0.05", "--quiet"])
      _ = try runner.run(["sniff", "--ring", "-i", "lo", "-w", link, "-c", "1", "--timeout", "0.05", "--quiet"])
    }
    stop.set()
    usleep(100_000)
    #expect(trap.targetIntact)
  }

  /// `sniff` (plain and ring) stopped by SIGINT or SIGTERM: every captured packet is in the
  /// file, and stderr ends with tcpdump's three counts.
  @Test(
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"),
    arguments: [(false, SIGINT), (false, SIGTERM), (true, SIGINT), (true, SIGTERM)])
  func anInterruptedSniffLosesNothing(ring: Bool, signal: Int32) throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let folder = runner.sessionDirectory + "-out"
    mkdir(folder, 0o700)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/capture.pcap"
    let sniff = try runner.start(
      ["sniff"] + (ring ? ["--ring"] : []) + ["-i", "lo", "-w", path, "--timeout", "20", "tcp", "port", String(server.port)])
    #expect(sniff.waitUntilCapturing())
    // One connection with data: SYN, SYN+ACK, ACK, data, ACK, FIN... (at least 5 packets).
    _ = Client.exchange(port: server.port, send: "hello")
    #expect(server.waitUntilFinished())
    if ring {
      // The ring's file is buffered until the end: no sign of progress to wait on; a pause.
      usleep(300_000)
    } else {
      // Interrupted once it has written five records (24-byte file header; a record here is at
      // least 16 + 54 bytes): whatever it has then must all be in the file after the signal.
      #expect(waitUntil(seconds: 10) {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) >= 24 + 5 * 70
      })
    }
    kill(sniff.process.processIdentifier, signal)
    let result = sniff.finish(timeout: 10)
    #expect(result.status == 0, "\(result.stderr)")
    let counts = result.errorLines.suffix(3)
    #expect(counts.count == 3)
    let captured = Int(counts.first?.split(separator: " ").first ?? "") ?? -1
    #expect(counts.first?.hasSuffix(captured == 1 ? "packet captured" : "packets captured") == true, "\(result.stderr)")
    #expect(counts.dropFirst().first?.contains("received by filter") == true)
    #expect(counts.last?.contains("dropped by kernel") == true)
    #expect(captured >= 5)
    let lines = CommandRunner.shell(["tcpdump", "-nn", "-r", path]).split(separator: "\n")
    #expect(lines.count == captured, "the pcap holds \(lines.count) of \(captured) packets")
    #expect(lines.contains { $0.contains("Flags [S]") })
  }
}

final class SafetyFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  var isSet: Bool { lock.withLock { value } }
  func set() { lock.withLock { value = true } }
}
