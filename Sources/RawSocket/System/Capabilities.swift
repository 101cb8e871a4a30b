import CRawSocket

/// A Linux capability tcpcraft needs, numbered as in `<linux/capability.h>`.
public enum Capability: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
  /// Firewall (nf_tables) and interface configuration. `CAP_NET_ADMIN`, bit 12.
  case netAdmin = 12
  /// Raw and packet sockets. `CAP_NET_RAW`, bit 13.
  case netRaw = 13

  /// The kernel's name, e.g. `CAP_NET_RAW`.
  public var description: String {
    switch self {
    case .netAdmin: "CAP_NET_ADMIN"
    case .netRaw: "CAP_NET_RAW"
    }
  }

  /// What the capability is needed for, as the error message says it.
  public var purpose: String {
    switch self {
    case .netAdmin: "to install its firewall guard"
    case .netRaw: "to open raw sockets"
    }
  }
}

/// A missing capability, with the one-line message that says how to get it:
///
///     tcpcraft needs CAP_NET_RAW to open raw sockets: run it with sudo, or grant it once with
///     `sudo setcap cap_net_raw,cap_net_admin+ep <binary>`
///
/// `<binary>` is replaced by the running executable's path when it can be read.
public struct CapabilityError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The capabilities that are missing (at least one).
  public var missing: [Capability]
  /// The running executable (`/proc/self/exe`), or `nil` when unknown.
  public var executablePath: String?

  public init(missing: [Capability], executablePath: String? = nil) {
    self.missing = missing
    self.executablePath = executablePath
  }

  public var description: String {
    let names = missing.map(\.description).joined(separator: " and ")
    let purposes = missing.map(\.purpose).joined(separator: " and ")
    let binary = executablePath ?? "<binary>"
    return "tcpcraft needs \(names) \(purposes): run it with sudo, or grant it once with "
      + "`sudo setcap cap_net_raw,cap_net_admin+ep \(binary)`"
  }
}

/// Checks the process's effective capabilities before a socket is opened, so that a missing
/// privilege is one clear message rather than a bare `EPERM`.
public enum Capabilities {
  /// The effective capability set (`CapEff` of `/proc/self/status`), or `nil` if unreadable.
  public static func effective() -> UInt64? {
    guard let status = readSmallFile("/proc/self/status") else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
      let hex = line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }
      return UInt64(hex, radix: 16)
    }
    return nil
  }

  /// Whether every capability in `capabilities` is in the effective set. When the set cannot be
  /// read, answers `true` and lets the kernel decide (its `EPERM` is mapped the same way).
  public static func has(_ capabilities: Capability...) -> Bool {
    missing(capabilities).isEmpty
  }

  /// The capabilities among `capabilities` that the process lacks.
  public static func missing(_ capabilities: [Capability]) -> [Capability] {
    guard let set = effective() else { return [] }
    return capabilities.filter { set & (1 << UInt64($0.rawValue)) == 0 }
  }

  /// Throws the clear message when any of `capabilities` is missing.
  ///
  /// - Throws: `CapabilityError`.
  public static func require(_ capabilities: Capability...) throws(CapabilityError) {
    let lacking = missing(capabilities)
    if !lacking.isEmpty { throw CapabilityError(missing: lacking, executablePath: executablePath()) }
  }

  /// The path of the running executable, from `/proc/self/exe`.
  public static func executablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBufferPointer { pointer -> Int in
      guard let base = pointer.baseAddress else { return -1 }
      return system_readlink("/proc/self/exe", base, pointer.count - 1)
    }
    guard count > 0, count < buffer.count else { return nil }
    let bytes = buffer[..<count].map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The error for `EPERM`/`EACCES` from `socket(2)`: the kernel's own verdict that a capability
  /// is missing, even when `/proc` said otherwise (a user namespace, a seccomp filter).
  internal static func errorForDeniedSocket(_ capabilities: [Capability]) -> CapabilityError {
    let lacking = missing(capabilities)
    return CapabilityError(
      missing: lacking.isEmpty ? capabilities : lacking, executablePath: executablePath())
  }
}
