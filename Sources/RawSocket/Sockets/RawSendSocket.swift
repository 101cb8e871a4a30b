import CRawSocket

/// What `RawIPv4Socket` and `RawIPv6Socket` share: opening a header-included
/// `SOCK_RAW`/`IPPROTO_RAW` socket (optionally under an exempt filesystem group) and sending
/// one packet to a socket address.
internal enum RawSendSocket {
  /// Opens `socket(domain, SOCK_RAW, IPPROTO_RAW)`, created under `exemptGroup` when given (the
  /// calling thread's filesystem gid is switched with `setfsgid(2)` and restored at once).
  ///
  /// - Parameter domainName: `AF_INET` or `AF_INET6`, for the error text.
  /// - Throws: `SocketError.missingCapability` without `CAP_NET_RAW`; `.cannotChangeGroup`;
  ///   `.system` otherwise.
  static func open(domain: CInt, domainName: String, exemptGroup: UInt32?) throws(SocketError) -> SocketDescriptor {
    do throws(CapabilityError) {
      try Capabilities.require(.netRaw)
    } catch {
      throw .missingCapability(error)
    }
    var savedGroup: gid_t? = nil
    if let group = exemptGroup {
      guard let original = switchFilesystemGroup(to: gid_t(group)) else {
        throw .cannotChangeGroup(group, .notPermitted)
      }
      savedGroup = original
    }
    let opened: Result<SocketDescriptor, Errno>
    do throws(Errno) {
      opened = .success(
        try SocketDescriptor.open(domain: domain, type: CInt(SOCK_RAW.rawValue), protocol: CInt(IPPROTO_RAW)))
    } catch {
      opened = .failure(error)
    }
    if let original = savedGroup, switchFilesystemGroup(to: original) == nil {
      if case .success(let descriptor) = opened { try? descriptor.close() }
      throw .cannotChangeGroup(UInt32(original), .notPermitted)
    }
    switch opened {
    case .success(let value): return value
    case .failure(let error) where error == .notPermitted || error == .permissionDenied:
      throw .missingCapability(Capabilities.errorForDeniedSocket([.netRaw]))
    case .failure(let error): throw .system(operation: "socket(\(domainName), SOCK_RAW, IPPROTO_RAW)", error)
    }
  }

  /// Sends `packet` to the socket address `address` (a `sockaddr_in` or `sockaddr_in6`).
  ///
  /// - Throws: `.blockedByFirewall` (`EPERM`), `.partialSend`, `.system(operation: "sendto", ...)`.
  static func send<Address>(
    _ packet: UnsafeRawBufferPointer, on descriptor: SocketDescriptor, to address: Address
  ) throws(SocketError) {
    var storage = address
    let result = withUnsafeBytes(of: &storage) { raw -> Result<Int?, Errno> in
      do throws(Errno) {
        return .success(try descriptor.send(packet, to: raw))
      } catch {
        return .failure(error)
      }
    }
    switch result {
    case .success(let sent):
      let count = sent ?? 0
      if count != packet.count { throw .partialSend(sent: count, expected: packet.count) }
    case .failure(let error) where error == .notPermitted:
      throw .blockedByFirewall
    case .failure(let error):
      throw .system(operation: "sendto", error)
    }
  }

  /// Runs `send` on the bytes of `packet`, passing on its typed error.
  static func withBytes(_ packet: [UInt8], _ send: (UnsafeRawBufferPointer) throws(SocketError) -> Void) throws(SocketError) {
    let result = packet.withUnsafeBytes { raw -> Result<Void, SocketError> in
      do throws(SocketError) {
        try send(raw)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }
}
