// UserNamespace: what it reads, what it refuses, and the one-line advice. Entering a namespace
// for real is exercised end to end by the CLI (NoRootTests: demo and sandbox) and by this test
// binary itself for a normal user (CTestNamespace).
import Foundation
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite struct UserNamespaceTests {
  static func setting(_ path: String) -> String? {
    (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  @Test func availabilityFollowsTheSettings() {
    let clone = Self.setting("/proc/sys/kernel/unprivileged_userns_clone")
    let maximum = Self.setting("/proc/sys/user/max_user_namespaces")
    let apparmor = Self.setting("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    switch UserNamespace.availability() {
    case .allowed:
      #expect(clone != "0" && maximum != "0" && apparmor != "1")
    case .forbidden(let reason):
      #expect(clone == "0" || maximum == "0" || apparmor == "1", "\(reason)")
      #expect(reason.contains(" = 0") || reason.contains(" = 1"))
    }
  }

  @Test func insideAUserNamespaceIsDetected() throws {
    let map = try String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8)
    let identity = map.split(whereSeparator: { $0.isWhitespace }) == ["0", "0", "4294967295"]
    #expect(UserNamespace.isInsideUserNamespace == !identity)
    if Privileges.inPrivateNamespace { #expect(UserNamespace.isInsideUserNamespace) }
    if Privileges.hostRoot { #expect(!UserNamespace.isInsideUserNamespace) }
  }

  /// The test process runs many threads: unshare(CLONE_NEWUSER) would fail with EINVAL, so
  /// `enter()` refuses first with a sentence that says why, and nothing changes.
  @Test func enteringFromAMultithreadedProcessIsRefused() throws {
    let before = try String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8)
    let threads = try #require(UserNamespace.threadCount())
    try #require(threads > 1, "the test runner is expected to be multithreaded")
    if case .forbidden = UserNamespace.availability() { return }
    #expect {
      try UserNamespace.enter()
    } throws: { error in
      guard let error = error as? UserNamespace.EntryError else { return false }
      return error.reason.contains("threads") && error.errno == Errno(rawValue: EINVAL)
    }
    #expect(try String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) == before)
  }

  @Test func adviceNamesTheSettingAndBothAlternatives() {
    let error = UserNamespace.EntryError(
      reason: "the kernel forbids user namespaces (user.max_user_namespaces = 0)")
    #expect(
      error.advice(binary: "/usr/local/bin/tcpcraft")
        == "tcpcraft cannot make a private network namespace without root here: the kernel forbids user "
        + "namespaces (user.max_user_namespaces = 0). Run it with sudo, or grant it once with "
        + "`sudo setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/tcpcraft`")
    let failed = UserNamespace.EntryError(reason: "unshare(CLONE_NEWUSER | CLONE_NEWNET) failed", errno: .notPermitted)
    #expect(failed.description.hasPrefix("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed: "))
    #expect(!failed.advice().contains("\n"))
  }

  @Test func namespaceFilesAreToldFromPlantedOnes() throws {
    #expect(UserNamespace.isNamespaceFile("/proc/self/ns/net"), "nsfs")
    let planted = NSTemporaryDirectory() + "tcpcraft-not-a-namespace-\(getpid())"
    try Data().write(to: URL(fileURLWithPath: planted))
    defer { unlink(planted) }
    #expect(!UserNamespace.isNamespaceFile(planted))
    #expect(!UserNamespace.isNamespaceFile("/nonexistent/tcpcraft"))
  }
}
