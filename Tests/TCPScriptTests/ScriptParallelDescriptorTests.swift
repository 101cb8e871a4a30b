import Foundation
import Synchronization
import Testing
import TestSupport
@testable import TCPScript

/// Scripts run side by side share one process (`run --parallel`), so one descriptor table: a
/// backtick command of one script must not inherit another's sockets, or that script's close()
/// leaves the socket open in the command's shell and its FIN waits for the shell to exit
/// (kernel fact 32).
@Suite(.serialized) struct ScriptParallelDescriptorTests {
  /// A folder of our own under the host's /tmp (both scripts' commands see it).
  func withFolder(_ body: (String) throws -> Void) throws {
    let root = "/tmp/tcpcraft-paralleldescriptors-\(getpid())"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    try body(root)
  }

  /// Opens a connection, says so with a file, and closes it while the other script's command
  /// (spawned after that file appeared, so after the sockets existed) is still running.
  /// A 100 ms tolerance: a loaded machine does not fail it, a FIN held by the other script's
  /// shell (0.3 s after the close) does.
  static let closer = "--tolerance_usecs=100000\n" + ScriptRunTests.listenAndSYN + """
    +0 < . 1:1(0) ack 1 win 257
    +0 accept(3, ..., ...) = 4
    +0 `touch ready`
    +.2 close(4) = 0
    +0 > F. 1:1(0) ack 1

    """

  /// Waits (at most 3 s) for the closer's file, then runs a command that outlives its close().
  static let sleeper = """
    0 `i=0; while [ ! -e ready ] && [ $i -lt 300 ]; do sleep 0.01; i=$((i+1)); done; test -e ready`
    +0 `sleep 0.5`

    """

  @Test(
    "A FIN sent by close() leaves at once while another script's command runs",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func closeIsNotHeldByAnotherScriptsCommand() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try withFolder { folder in
      let results = Mutex<[String: ScriptResult]>([:])
      let scripts = [("closer.pkt", Self.closer), ("sleeper.pkt", Self.sleeper)]
      DispatchQueue.concurrentPerform(iterations: 2) { index in
        let (name, text) = scripts[index]
        let result = ScriptRunner.run(text: text, path: folder + "/" + name, directory: folder)
        results.withLock { $0[name] = result }
      }
      let all = results.withLock { $0 }
      #expect(all["sleeper.pkt"]?.status == .passed, "\(all["sleeper.pkt"]?.reason ?? "")")
      let closer = try #require(all["closer.pkt"])
      #expect(closer.status == .passed, "\(closer.reason ?? "")")
      #expect(closer.transcript.contains { $0.kind == .outbound && $0.text.contains("[F.]") })
    }
  }
}
