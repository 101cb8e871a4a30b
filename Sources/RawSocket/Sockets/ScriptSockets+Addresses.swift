import CRawSocket

/// A socket address for the script runner's calls, in either family: `sockaddr_in`,
/// `sockaddr_in6` (an IPv4-mapped `::ffff:a.b.c.d` included), or a bare family with everything
/// else zero (scripts check the kernel's answer to `AF_UNSPEC`).
public enum ScriptSocketAddress: Hashable, Sendable, CustomStringConvertible {
  /// Address in host byte order.
  case ipv4(address: UInt32, port: UInt16)
  /// The 16 address bytes in network order.
  case ipv6(address: [UInt8], port: UInt16)
  /// A sockaddr whose family is this value and whose other bytes are zero.
  case family(Int32)

  /// `AF_INET`, `AF_INET6` or the bare family.
  public var family: Int32 {
    switch self {
    case .ipv4: AF_INET
    case .ipv6: AF_INET6
    case .family(let value): value
    }
  }

  public var port: UInt16 {
    switch self {
    case .ipv4(_, let port), .ipv6(_, let port): port
    case .family: 0
    }
  }

  public var description: String {
    switch self {
    case .ipv4(let address, let port):
      return "\(address >> 24).\((address >> 16) & 0xFF).\((address >> 8) & 0xFF).\(address & 0xFF):\(port)"
    case .ipv6(let address, let port):
      var groups: [String] = []
      for index in stride(from: 0, to: min(16, address.count) - 1, by: 2) {
        groups.append(String(UInt16(address[index]) << 8 | UInt16(address[index + 1]), radix: 16))
      }
      return "[\(groups.joined(separator: ":"))]:\(port)"
    case .family(let value): return "{sa_family=\(value)}"
    }
  }
}

extension ScriptSockets {
  private static func result(_ value: Int) -> Result<Int, Errno> {
    value == -1 ? .failure(Errno(rawValue: system_errno())) : .success(value)
  }

  /// Calls `body` with the C form of `address` and its length.
  static func withSocketAddress<R>(_ address: ScriptSocketAddress, _ body: (UnsafeRawPointer, socklen_t) -> R) -> R {
    switch address {
    case .ipv4(let host, let port):
      var socketAddress = sockaddr_in()
      socketAddress.sin_family = sa_family_t(AF_INET)
      socketAddress.sin_port = port.bigEndian
      socketAddress.sin_addr.s_addr = host.bigEndian
      return withUnsafePointer(to: &socketAddress) { body(UnsafeRawPointer($0), socklen_t(MemoryLayout<sockaddr_in>.size)) }
    case .ipv6(let bytes, let port):
      var socketAddress = sockaddr_in6()
      socketAddress.sin6_family = sa_family_t(AF_INET6)
      socketAddress.sin6_port = port.bigEndian
      withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { raw in
        for index in 0..<min(16, bytes.count) { raw[index] = bytes[index] }
      }
      return withUnsafePointer(to: &socketAddress) { body(UnsafeRawPointer($0), socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    case .family(let family):
      // As large as the largest inet sockaddr, every byte but the family zero.
      var socketAddress = sockaddr_in6()
      socketAddress.sin6_family = sa_family_t(truncatingIfNeeded: family)
      return withUnsafePointer(to: &socketAddress) { body(UnsafeRawPointer($0), socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
  }

  public static func bind(_ fd: Int32, to address: ScriptSocketAddress) -> Result<Int, Errno> {
    result(Int(withSocketAddress(address) { system_bind(fd, $0, $1) }))
  }

  public static func connect(_ fd: Int32, to address: ScriptSocketAddress) -> Result<Int, Errno> {
    result(Int(withSocketAddress(address) { system_connect(fd, $0, $1) }))
  }

  /// `sendto` to `address`, or with no address (`nil`).
  public static func sendto(_ fd: Int32, bytes: [UInt8], flags: Int32, to address: ScriptSocketAddress?) -> Result<Int, Errno> {
    bytes.withUnsafeBytes { buffer in
      guard let address else { return result(system_sendto(fd, buffer.baseAddress, buffer.count, flags, nil, 0)) }
      return result(withSocketAddress(address) { system_sendto(fd, buffer.baseAddress, buffer.count, flags, $0, $1) })
    }
  }

  /// `sendto(fd, NULL, count, flags, address)`: the kernel must refuse the null buffer (EFAULT),
  /// or fail the connect first.
  public static func sendtoNullBuffer(_ fd: Int32, count: Int, flags: Int32, to address: ScriptSocketAddress?) -> Result<Int, Errno> {
    guard let address else { return result(system_sendto(fd, nil, count, flags, nil, 0)) }
    return result(withSocketAddress(address) { system_sendto(fd, nil, count, flags, $0, $1) })
  }

  /// The address of `getsockname` (`peer: false`) or `getpeername` (`peer: true`), in whichever
  /// family the kernel wrote it.
  public static func socketName(_ fd: Int32, peer: Bool) -> Result<ScriptSocketAddress, Errno> {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutablePointer(to: &storage) {
      peer ? system_getpeername(fd, UnsafeMutableRawPointer($0), &length)
        : system_getsockname(fd, UnsafeMutableRawPointer($0), &length)
    }
    guard status != -1 else { return .failure(Errno(rawValue: system_errno())) }
    return .success(decode(&storage, length: Int(length)))
  }

  private static func decode(_ storage: inout sockaddr_storage, length: Int) -> ScriptSocketAddress {
    let family = Int32(storage.ss_family)
    switch family {
    case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
      return withUnsafeBytes(of: &storage) { raw in
        let port = UInt16(raw[2]) << 8 | UInt16(raw[3])
        let address = UInt32(raw[4]) << 24 | UInt32(raw[5]) << 16 | UInt32(raw[6]) << 8 | UInt32(raw[7])
        return .ipv4(address: address, port: port)
      }
    case AF_INET6 where length >= 24:
      // sin6_family (2), sin6_port (2), sin6_flowinfo (4), sin6_addr (16).
      return withUnsafeBytes(of: &storage) { raw in
        .ipv6(address: Array(raw[8..<24]), port: UInt16(raw[2]) << 8 | UInt16(raw[3]))
      }
    default:
      return .family(family)
    }
  }
}
