import Foundation
import TestSupport
import Testing

/// More of what a user ran into (issue 15's teaching follow-ups, issue 10's failure report): each
/// case failed before its fix, and each is checked against the real kernel on 127.0.0.1.
@Suite struct UserCheck2Tests {
  /// Segments a Linux listener makes no connection from (tcp_rcv_state_process's LISTEN case):
  /// SYN+FIN and SYN+RST are dropped, SYN+ACK and a bare ACK draw a RST, data without SYN is
  /// dropped, a bad checksum never reaches TCP, a first fragment is held for reassembly. The live
  /// line used to say `peer LISTEN → SYN-RECEIVED` for SYN+FIN and for the fragment; the kernel
  /// (`ss`) shows no SYN-RECV entry for any of them, and the line now says `peer LISTEN`.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func aListenerMakesNoConnectionFromWhatLinuxDrops() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let listener = try Listener()
    let port = String(listener.port)
    let cases: [(arguments: [String], reply: String?)] = [
      (["--flags", "SF"], nil),
      (["--flags", "SR"], nil),
      (["--flags", "S.", "--ack", "1"], "Flags [R]"),
      (["--flags", "."], "Flags [R]"),
      (["--flags", "P", "--data", "hello"], nil),
      (["--flags", "S", "--checksum", "0xdead"], nil),
      (["--flags", "S", "--ip-flags", "MF"], nil),
    ]
    for (arguments, reply) in cases {
      let result = try runner.run(["send", "127.0.0.1:\(port)"] + arguments + ["--timeout", "0.5", "--no-ladder", "--guard"])
      let sent = result.lines.first { $0.contains(" out IP ") } ?? ""
      #expect(sent.contains("peer LISTEN]"), "\(arguments): \(result.stdout) \(result.stderr)")
      #expect(!result.stdout.contains("SYN-RECEIVED"), "\(arguments): \(result.stdout)")
      if let reply {
        #expect(result.lines.contains { $0.contains(" in  IP ") && $0.contains(reply) }, "\(arguments): \(result.stdout)")
      } else {
        #expect(!result.lines.contains { $0.contains(" in  IP ") }, "\(arguments): \(result.stdout)")
      }
      // The kernel's word: no half-open connection on the listener's port.
      let synRecv = CommandRunner.shell(["ss", "-Htan", "state", "syn-recv", "sport", "=", ":\(port)"])
      #expect(synRecv.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(arguments): \(synRecv)")
    }
    // A plain SYN still is a connection request: the model and the kernel agree on SYN-RECEIVED.
    let syn = try runner.run(["send", "127.0.0.1:\(port)", "--flags", "S", "--timeout", "0.5", "--no-ladder", "--guard"])
    #expect(syn.lines.contains { $0.contains(" out IP ") && $0.contains("peer LISTEN → SYN-RECEIVED") }, "\(syn.stdout)")
  }

  /// `--explain` on a fragment said the TCP lesson (the peer must acknowledge ISN + 1) and nothing
  /// about MF; it now says that the kernel holds the fragment for reassembly and TCP never sees
  /// it, and names DF and the evil bit where they are set.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func explainTeachesTheIPFlags() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let listener = try Listener()
    let target = "127.0.0.1:\(listener.port)"
    let fragment = try runner.run(["send", target, "--flags", "S", "--ip-flags", "MF", "--timeout", "0.5", "--no-ladder", "--explain"])
    #expect(fragment.stdout.contains("IP flag MF (more fragments) with offset 0"), "\(fragment.stdout)")
    #expect(fragment.stdout.contains("holds it for reassembly"), "\(fragment.stdout)")
    #expect(fragment.stdout.contains("its TCP never sees this segment"), "\(fragment.stdout)")
    #expect(!fragment.stdout.contains("the peer must acknowledge"), "\(fragment.stdout)")

    let later = try runner.run([
      "send", target, "--flags", "S", "--ip-flags", "none", "--frag-offset", "3", "--timeout", "0.5", "--no-ladder", "--explain",
    ])
    #expect(later.stdout.contains("Fragment offset 3 (3 × 8 = 24 bytes) without MF"), "\(later.stdout)")

    let dontFragment = try runner.run([
      "send", target, "--flags", "S", "--ip-flags", "DF,evil", "--timeout", "0.5", "--no-ladder", "--explain", "--guard",
    ])
    #expect(dontFragment.stdout.contains("IP flag DF (don't fragment)"), "\(dontFragment.stdout)")
    #expect(dontFragment.stdout.contains("evil bit"), "\(dontFragment.stdout)")
    // The kernel does not check the evil bit: the SYN is answered.
    #expect(dontFragment.lines.contains { $0.contains(" in  IP ") && $0.contains("Flags [S.]") }, "\(dontFragment.stdout)")

    let synFIN = try runner.run(["send", target, "--flags", "SF", "--timeout", "0.5", "--no-ladder", "--explain"])
    #expect(synFIN.stdout.contains("A SYN with FIN is no connection request"), "\(synFIN.stdout)")
  }

  /// `run` with a wrong `ack` on a line that writes no window: the failure report's expected
  /// line said `win 0`, a window the script never wrote (an unwritten field is not checked).
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func aRunFailureClaimsNoUnwrittenWindow() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let source = try String(contentsOfFile: RunCommandTests.examples + "/handshake.pkt", encoding: .utf8)
    var lines = source.components(separatedBy: "\n")
    #expect(lines.count > 14 && lines[13].contains("> S. 0:0(0) ack 1 <"), "\(lines.prefix(15))")
    lines[13] = lines[13].replacingOccurrences(of: "ack 1", with: "ack 2")
    // In a folder of its own beside a copy of the `defaults.sh` the script runs.
    let folder = TemporaryFiles.path("usercheck2-\(getpid())")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try FileManager.default.copyItem(atPath: RunCommandTests.examples + "/defaults.sh", toPath: folder + "/defaults.sh")
    let path = folder + "/bad.pkt"
    try lines.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
    let result = try runner.run(["run", path])
    #expect(result.status == 1, "stdout: \(result.stdout) stderr: \(result.stderr)")
    let all = result.stdout + result.stderr
    let expected = all.components(separatedBy: "\n").filter { $0.contains("expected") && $0.contains("Flags [S.]") }
    #expect(!expected.isEmpty, "\(all)")
    #expect(expected.allSatisfy { !$0.contains("win ") }, "\(expected)")
    // The fields the line does write are still shown.
    #expect(expected.allSatisfy { $0.contains(", ack ") && $0.contains("options [mss 1460,nop,wscale 7]") }, "\(expected)")
  }
}
