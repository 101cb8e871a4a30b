/// What went wrong with a raw or packet socket, in words a user can act on.
///
/// The low-level wrappers on `SocketDescriptor` throw `Errno`; the socket types
/// (`RawIPv4Socket`, `PacketSocket`) throw this, mapping the errnos that have a known meaning.
public enum SocketError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The process lacks a capability (`CAP_NET_RAW`, `CAP_NET_ADMIN`): see `CapabilityError`.
  case missingCapability(CapabilityError)
  /// netfilter dropped a packet we sent: `sendto`/`sendmmsg` returned `EPERM` (kernel fact 2).
  /// Expected for a crafted RST from a socket outside the RST guard's exempt group.
  case blockedByFirewall
  /// No interface of that name exists (in this network namespace).
  case noSuchInterface(String)
  /// Changing the effective group to create a socket exempt from the RST guard failed.
  case cannotChangeGroup(UInt32, Errno)
  /// The kernel accepted only part of a packet (`sent` of `expected` bytes).
  case partialSend(sent: Int, expected: Int)
  /// A BPF program the kernel cannot take (empty, or longer than `BPF_MAXINSNS`).
  case invalidFilter(String)
  /// Any other failure of a system call, named by `operation` (e.g. `"bind"`).
  case system(operation: String, Errno)

  public var description: String {
    switch self {
    case .missingCapability(let error):
      return error.description
    case .blockedByFirewall:
      return "send blocked by the firewall (netfilter dropped it): EPERM from the kernel"
    case .noSuchInterface(let name):
      return "no network interface named '\(name)'"
    case .cannotChangeGroup(let group, let errno):
      return "cannot switch the effective group to \(group) to create the raw socket: \(errno)"
    case .partialSend(let sent, let expected):
      return "the kernel sent only \(sent) of \(expected) bytes"
    case .invalidFilter(let reason):
      return "invalid BPF program: \(reason)"
    case .system(let operation, let errno):
      return "\(operation) failed: \(errno)"
    }
  }

  /// The underlying errno, when there is one.
  public var errno: Errno? {
    switch self {
    case .missingCapability, .noSuchInterface, .partialSend, .invalidFilter: nil
    case .blockedByFirewall: .notPermitted
    case .cannotChangeGroup(_, let errno), .system(_, let errno): errno
    }
  }
}
