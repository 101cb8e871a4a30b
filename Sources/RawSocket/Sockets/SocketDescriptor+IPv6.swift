import CRawSocket

extension SocketDescriptor {
  /// The IPv6 address (16 octets, network order) and port (host order) the socket is bound to.
  ///
  /// - Throws: `EAFNOSUPPORT` when the socket is not an IPv6 one; the `getsockname` error otherwise.
  ///
  /// The corresponding C function is `getsockname(2)`.
  public func localIPv6Address() throws(Errno) -> (address: [UInt8], port: UInt16) {
    var address = sockaddr_in6()
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    _ = try valueOrErrno(retryOnInterrupt: false) {
      withUnsafeMutableBytes(of: &address) { raw -> CInt in
        guard let base = raw.baseAddress else { return -1 }
        return system_getsockname(rawValue, base, &length)
      }
    }.get()
    guard address.sin6_family == sa_family_t(AF_INET6) else { throw Errno(rawValue: EAFNOSUPPORT) }
    let octets = withUnsafeBytes(of: address.sin6_addr) { Array($0.prefix(16)) }
    return (octets, UInt16(bigEndian: address.sin6_port))
  }
}
