import Foundation

/// The gate every privileged test goes through.
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
    let set = effective
    return capabilities.allSatisfy { set & (1 << UInt64($0.rawValue)) != 0 }
  }

  /// The capabilities among `capabilities` this process lacks.
  public static func missing(_ capabilities: [Capability]) -> [Capability] {
    let set = effective
    return capabilities.filter { set & (1 << UInt64($0.rawValue)) == 0 }
  }

  /// Whether a test needing `capabilities` should run: it has them, or privileges are required
  /// (then `check` fails it loudly).
  public static func shouldRun(_ capabilities: Capability...) -> Bool {
    required || has(capabilities)
  }

  /// The message a skipped or failed privileged test shows.
  public static func message(_ capabilities: [Capability]) -> String {
    let names = missing(capabilities).map(\.description).joined(separator: ", ")
    return "needs \(names.isEmpty ? "no capability" : names): run as root (sudo swift test) "
      + "or set TCPCRAFT_REQUIRE_PRIVILEGES=1 to make this a failure"
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
