import CTestNamespace
import Foundation

/// The gate every privileged test goes through.
///
/// A normal user needs no sudo: before `main`, the test binary moves itself into a private user
/// + network namespace where it holds every capability (`CTestNamespace`, kernel fact 13), when
/// the kernel allows it. Tests that need the real host (switching to another uid with `setpriv`,
/// `setcap`) ask `hostRoot` and skip there with a clear message.
///
/// Without the capabilities a test needs, it is skipped with a message saying which capability is
/// missing and how to get it — unless `TCPCRAFT_REQUIRE_PRIVILEGES=1` is set (as `.ci/run` does),
/// in which case the test runs and `Privileges.check` fails it with the same message.
public enum Privileges {
  /// A Linux capability bit, as numbered in `<linux/capability.h>`.
  public enum Capability: Int, Sendable, CustomStringConvertible {
    case netAdmin = 12
    case netRaw = 13
    case sysAdmin = 21

    public var description: String {
      switch self {
      case .netAdmin: "CAP_NET_ADMIN"
      case .netRaw: "CAP_NET_RAW"
      case .sysAdmin: "CAP_SYS_ADMIN"
      }
    }
  }

  /// `true` when `TCPCRAFT_REQUIRE_PRIVILEGES=1`: a missing privilege fails instead of skipping.
  public static var required: Bool {
    ProcessInfo.processInfo.environment["TCPCRAFT_REQUIRE_PRIVILEGES"] == "1"
  }

  /// The effective capability set of this process, read from `/proc/self/status`.
  public static var effective: UInt64 {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
      let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces)
      return UInt64(hex, radix: 16) ?? 0
    }
    return 0
  }

  public static func has(_ capabilities: [Capability]) -> Bool {
    missing(capabilities).isEmpty
  }

  /// The capabilities among `capabilities` this process lacks. In a private namespace,
  /// `CAP_SYS_ADMIN` (what the script runner's tests ask for: namespaces and tun devices) counts
  /// only when `/dev/net/tun` opens for this user: the device node belongs to the host, and some
  /// systems keep it root-only (mode 0600).
  public static func missing(_ capabilities: [Capability]) -> [Capability] {
    let set = effective
    return capabilities.filter { capability in
      if set & (1 << UInt64(capability.rawValue)) == 0 { return true }
      return capability == .sysAdmin && inPrivateNamespace && !tunOpensHere
    }
  }

  /// Whether `/dev/net/tun` opens read-write for this process.
  static let tunOpensHere: Bool = {
    let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return false }
    close(fd)
    return true
  }()

  /// Whether a test needing `capabilities` should run: it has them, or privileges are required
  /// (then `check` fails it loudly).
  public static func shouldRun(_ capabilities: Capability...) -> Bool {
    required || has(capabilities)
  }

  /// The message a skipped or failed privileged test shows.
  public static func message(_ capabilities: [Capability]) -> String {
    let lacking = missing(capabilities)
    let names = lacking.map(\.description).joined(separator: ", ")
    let context =
      inPrivateNamespace
      ? "in a private user namespace, where /dev/net/tun does not open for this user"
      : "no private user namespace: \(namespaceDetail)"
    return "needs \(names.isEmpty ? "no capability" : names) (\(context)): run as root (sudo swift test) "
      + "or set TCPCRAFT_REQUIRE_PRIVILEGES=1 to make this a failure"
  }

  /// Whether this test process runs in the private user + network namespace it made for itself
  /// (a normal user's run), or inherited one from its parent test process.
  public static var inPrivateNamespace: Bool {
    ctestnamespace_state() == 1 || ProcessInfo.processInfo.environment["TCPCRAFT_TEST_USERNS"] == "inside"
  }

  /// What the namespace step did or why it did nothing (for messages).
  public static var namespaceDetail: String { String(cString: ctestnamespace_detail()) }

  /// Whether this process is the real root of the host: uid 0 outside any user namespace. Tests
  /// that switch to another user (`setpriv --reuid`) or set file capabilities need it.
  public static var hostRoot: Bool {
    guard getuid() == 0 else { return false }
    guard let map = try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) else { return false }
    return map.split(whereSeparator: { $0.isWhitespace }) == ["0", "0", "4294967295"]
  }

  /// For tests that need the real host's root: run them (`required` makes a missing one a
  /// failure), else skip with this reason.
  public static var shouldRunAsHostRoot: Bool { required || hostRoot }

  /// The reason shown when a host-root test is skipped.
  public static let hostRootReason =
    "needs the host's root (it switches to another user or group, or sets file capabilities, which "
    + "a private user namespace cannot): sudo swift test"

  /// Call first in a host-root test: throws a clear error when not the host's root.
  public static func checkHostRoot() throws {
    if !hostRoot { throw Missing(description: hostRootReason) }
  }

  /// Thrown by `check` when a required capability is missing.
  public struct Missing: Error, CustomStringConvertible {
    public let description: String
  }

  /// Call first in a privileged test: throws a clear error when a capability is missing.
  public static func check(_ capabilities: Capability...) throws {
    if !has(capabilities) { throw Missing(description: message(capabilities)) }
  }

  /// Whether the `ip` command exists (network-namespace tests need iproute2).
  public static func haveTool(_ name: String) -> Bool { toolPath(name) != nil }

  /// The full path of an installed tool, or nil.
  public static func toolPath(_ name: String) -> String? {
    let paths = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"]
    return paths.lazy.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }
}
