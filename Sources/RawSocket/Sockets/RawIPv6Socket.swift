import CRawSocket

/// A layer-3 raw socket for sending complete IPv6 packets that we built ourselves:
/// `socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)`, header included (`IPV6_HDRINCL`, Linux 4.5+; an
/// `IPPROTO_RAW` socket has it set already). It only sends; capture replies with a
/// `PacketSocket` on `ETH_P_IPV6` (`PacketSocket.ipv6Protocol`).
///
/// What the kernel does to the header we give it (checked on Linux 6.18 by
/// `IPv6RawSocketTests`): unlike IPv4's `IP_HDRINCL`, **nothing is rewritten** — the payload
/// length, next header, hop limit, flow label and source address go out exactly as built (an
/// unspecified source `::` stays `::`), and extension headers are not looked at. So a lying
/// payload length can be sent at layer 3 too. The destination in `sendto` only chooses the
/// route (and, for a link-local address, the interface through `scopeID`).
///
/// Packets pass through the output netfilter hooks: a packet the firewall drops makes the send
/// fail with `SocketError.blockedByFirewall` (`EPERM`).
///
/// Requires `CAP_NET_RAW`. The socket is closed by `close()` or when the object is released.
public final class RawIPv6Socket {
  /// The underlying descriptor; owned by this object.
  public let descriptor: SocketDescriptor
  /// The effective group the socket was created under (`nil`: the process's own).
  public let exemptGroup: UInt32?
  internal private(set) var isClosed = false

  /// Opens the socket.
  ///
  /// - Parameter exemptGroup: create the socket under this filesystem group, as
  ///   `RawIPv4Socket.init(exemptGroup:)` does, so the RST guard lets our own RSTs through.
  /// - Throws: `SocketError.missingCapability` without `CAP_NET_RAW`; `.cannotChangeGroup`;
  ///   `.system` otherwise.
  public init(exemptGroup: UInt32? = nil) throws(SocketError) {
    let descriptor = try RawSendSocket.open(domain: AF_INET6, domainName: "AF_INET6", exemptGroup: exemptGroup)
    do throws(Errno) {
      try descriptor.setOption(level: CInt(IPPROTO_IPV6), name: RawIPv6Socket.ipv6HeaderIncluded, value: CInt(1))
    } catch let error where error.rawValue == ENOPROTOOPT {
      _ = error
      // Before Linux 4.5 there is no IPV6_HDRINCL; IPPROTO_RAW implies it there too.
    } catch {
      try? descriptor.close()
      throw .system(operation: "setsockopt(IPV6_HDRINCL)", error)
    }
    self.descriptor = descriptor
    self.exemptGroup = exemptGroup
  }

  /// `IPV6_HDRINCL` (`<linux/in6.h>`: 36), not in every libc's headers.
  public static let ipv6HeaderIncluded: CInt = 36

  deinit { if !isClosed { try? descriptor.close() } }

  /// Closes the socket. Later sends throw `.system(_, .badFileDescriptor)`.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    try? descriptor.close()
  }

  /// Sends one IPv6 packet (header included) towards `destination`.
  ///
  /// - Parameters:
  ///   - packet: the whole IPv6 packet, sent as it is.
  ///   - destination: the 16 octets of the address to route to (normally the header's
  ///     destination).
  ///   - scopeID: the interface index for a link-local destination (0: none).
  /// - Throws: `.system(operation: "sendto", .invalidArgument)` when `destination` is not 16
  ///   octets; `.blockedByFirewall` (`EPERM`); `.partialSend`; `.system` otherwise.
  ///
  /// The corresponding C function is `sendto(2)`.
  public func send(_ packet: UnsafeRawBufferPointer, to destination: [UInt8], scopeID: UInt32 = 0) throws(SocketError) {
    guard !isClosed else { throw .system(operation: "sendto", .badFileDescriptor) }
    guard let address = ipv6SocketAddress(destination, scopeID: scopeID) else {
      throw .system(operation: "sendto", Errno(rawValue: EINVAL))
    }
    try RawSendSocket.send(packet, on: descriptor, to: address)
  }

  /// Sends one IPv6 packet (header included) towards `destination` (16 octets).
  public func send(_ packet: [UInt8], to destination: [UInt8], scopeID: UInt32 = 0) throws(SocketError) {
    try RawSendSocket.withBytes(packet) { raw throws(SocketError) in
      try send(raw, to: destination, scopeID: scopeID)
    }
  }
}

/// A `sockaddr_in6` for 16 octets (port 0: a raw socket's protocol), `nil` for another count.
internal func ipv6SocketAddress(_ octets: [UInt8], scopeID: UInt32 = 0) -> sockaddr_in6? {
  guard octets.count == 16 else { return nil }
  var value = sockaddr_in6()
  value.sin6_family = sa_family_t(AF_INET6)
  value.sin6_port = 0
  value.sin6_scope_id = scopeID
  withUnsafeMutableBytes(of: &value.sin6_addr) { raw in
    for i in 0..<16 { raw[i] = octets[i] }
  }
  return value
}

extension PacketSocket {
  /// `ETH_P_IPV6` (0x86DD): capture IPv6 only.
  public static let ipv6Protocol: UInt16 = 0x86DD
  /// `ETH_P_IP` (0x0800): capture IPv4 only.
  public static let ipv4Protocol: UInt16 = 0x0800
}

/// RFC 5952 text of 16 octets (RawSocket has no address type of its own; PacketKit's
/// `IPv6Address` prints the same): lower-case groups, the longest run of two or more zero
/// groups as "::". An array of another length prints as its hexadecimal bytes.
public func ipv6Text(_ octets: [UInt8]) -> String {
  guard octets.count == 16 else { return octets.map { String($0, radix: 16) }.joined() }
  let groups = (0..<8).map { UInt16(octets[2 * $0]) << 8 | UInt16(octets[2 * $0 + 1]) }
  var best = (start: -1, length: 0)
  var run = (start: -1, length: 0)
  for (i, group) in groups.enumerated() {
    if group == 0 {
      run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
      if run.length > best.length { best = run }
    } else {
      run = (-1, 0)
    }
  }
  if best.length < 2 { best = (-1, 0) }
  if best.start == 0, best.length == 5, groups[5] == 0xFFFF {
    return "::ffff:\(octets[12]).\(octets[13]).\(octets[14]).\(octets[15])"
  }
  var text = ""
  var i = 0
  while i < 8 {
    if i == best.start {
      text += i == 0 ? "::" : ":"
      i += best.length
      continue
    }
    text += String(groups[i], radix: 16)
    if i < 7 { text += ":" }
    i += 1
  }
  return text
}
