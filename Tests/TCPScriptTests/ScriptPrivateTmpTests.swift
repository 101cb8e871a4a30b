import Foundation
import Synchronization
import Testing
import TestSupport
@testable import TCPScript

/// Each script's commands see a /tmp of their own (the corpus's restore file is named after the
/// commands' parent, tcpcraft, so parallel scripts would otherwise share it), and a script folder
/// under /tmp stays reachable, paths that climb out of it included.
@Suite(.serialized) struct ScriptPrivateTmpTests {
  /// A folder of our own under the host's /tmp, with a helper one level up from the scripts.
  func withFolder(_ body: (String) throws -> Void) throws {
    let root = "/tmp/tcpcraft-privatetmp-\(getpid())"
    try FileManager.default.createDirectory(atPath: root + "/scripts", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    try "echo helper-ran\n".write(toFile: root + "/helper.sh", atomically: false, encoding: .utf8)
    try body(root + "/scripts")
  }

  /// Writes a file named after `$PPID` without clobbering (fails if another script made it),
  /// holds it while the other script runs, then checks it is still its own.
  static func script(_ tag: String) -> String {
    """
    0 `test -z "$(ls -A /tmp | grep -v '^tcpcraft-privatetmp-')" && set -C && echo \(tag) > /tmp/restore_$PPID.sh`
    +0 `sleep 0.4; test "$(cat /tmp/restore_$PPID.sh)" = \(tag)`
    +0 `test "$(sh ../helper.sh)" = helper-ran && test "$(stat -f -c %T /tmp)" = tmpfs`

    """
  }

  @Test(
    "Two scripts at once write the same /tmp file name, each in its own /tmp; the host's /tmp never sees it",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func parallelScriptsDoNotShareTmp() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try withFolder { folder in
      let results = Mutex<[ScriptResult]>([])
      DispatchQueue.concurrentPerform(iterations: 2) { index in
        let result = ScriptRunner.run(text: Self.script("script\(index)"), path: folder + "/s\(index).pkt", directory: folder)
        results.withLock { $0.append(result) }
      }
      let all = results.withLock { $0 }
      #expect(all.count == 2)
      for result in all {
        #expect(result.status == .passed, "\(result.reason ?? "")")
        #expect(!result.transcript.contains { $0.text.contains("no private /tmp") })
      }
      #expect(!FileManager.default.fileExists(atPath: "/tmp/restore_\(getpid()).sh"))
    }
  }

  /// The corpus's pattern: set_sysctls.py names its restore file after PACKETDRILL_PID, and a later
  /// command runs `/tmp/sysctl_restore_${PPID}.sh`; the two must agree, as under packetdrill
  /// (whose pid both are), also with each command in a PID namespace of its own.
  @Test(
    "PACKETDRILL_PID in one command is $PPID in the next (the corpus's sysctl restore file)",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func restoreFileNamesAgree() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try withFolder { folder in
      let text = """
        0 `test -n "$PACKETDRILL_PID" && echo 'exit 0' > /tmp/restore_$PACKETDRILL_PID.sh`
        +0 `sh /tmp/restore_${PPID}.sh`

        """
      let result = ScriptRunner.run(text: text, path: folder + "/pid.pkt", directory: folder)
      #expect(result.status == .passed, "\(result.reason ?? "")")
    }
  }
}
