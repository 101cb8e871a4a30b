import RawSocket

/// What the target's own kernel says about a connection, when the target is on this host (in a
/// namespace we can enter, or on `lo`): read with `inet_diag` and its `INET_DIAG_INFO` extension
/// (`struct tcp_info`).
enum ProbeKernelView {
  /// The window-scale shift the target's socket applies to the windows *we* advertise
  /// (`tcpi_snd_wscale`), for the connection `target` ⇄ `peer` seen from the target. `nil` when
  /// the socket cannot be found or read.
  static func sendShift(namespaceFile: String?, namespaceName: String?, target: Endpoint, peer: Endpoint) -> UInt8? {
    let query = { () -> UInt8? in
      guard let netlink = try? NetlinkSocket(.sockDiag, timeout: .seconds(1)) else { return nil }
      defer { netlink.close() }
      var message = NetlinkMessageBuilder(type: 20)  // SOCK_DIAG_BY_FAMILY
      message.append(bytes: request(target: target, peer: peer))
      guard let replies = try? netlink.request(message) else { return nil }
      for reply in replies {
        if let shift = sendShift(inReply: reply.payload, target: target, peer: peer) { return shift }
      }
      return nil
    }
    if let namespaceFile, namespaceFile.hasPrefix("/proc/self/fd/") {
      return (try? NetworkNamespace.run(inNamespaceAt: namespaceFile, query)) ?? nil
    }
    if let namespaceName {
      guard ProbeNamespace.problem(with: namespaceName) == nil else { return nil }
      return (try? NetworkNamespace.run(named: namespaceName, query)) ?? nil
    }
    return query()
  }

  /// `struct inet_diag_req_v2` (56 bytes): AF_INET (or AF_INET6), IPPROTO_TCP, the INET_DIAG_INFO extension bit,
  /// every state, the exact 4-tuple (network byte order), no interface, INET_DIAG_NOCOOKIE.
  /// For IPv6 endpoints: AF_INET6 (10) and the 16-octet addresses.
  static func request(target: Endpoint, peer: Endpoint) -> [UInt8] {
    let family: UInt8 = target.address.ipv6 != nil ? 10 : 2
    var bytes: [UInt8] = [family, 6, 1 << (2 - 1), 0, 0xFF, 0xFF, 0xFF, 0xFF]
    bytes += [UInt8(target.port >> 8), UInt8(target.port & 0xFF), UInt8(peer.port >> 8), UInt8(peer.port & 0xFF)]
    bytes += addressField(target)
    bytes += addressField(peer)
    bytes += [0, 0, 0, 0]  // interface
    bytes += [UInt8](repeating: 0xFF, count: 8)  // cookie: none
    return bytes
  }

  /// An endpoint's address as `inet_diag_sockid` holds it: 16 octets, an IPv4 one in the first 4.
  static func addressField(_ endpoint: Endpoint) -> [UInt8] {
    if let address = endpoint.address.ipv6 { return address.octets }
    return bigEndian(endpoint.ipv4?.rawValue ?? 0) + [UInt8](repeating: 0, count: 12)
  }

  static func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }

  /// From an `inet_diag_msg` (72 bytes) and its attributes: the socket must be the one asked for;
  /// the `INET_DIAG_INFO` attribute (type 2) holds `tcp_info`, whose byte 6 packs
  /// `tcpi_snd_wscale` (low nibble) and `tcpi_rcv_wscale` (high nibble).
  static func sendShift(inReply payload: ArraySlice<UInt8>, target: Endpoint, peer: Endpoint) -> UInt8? {
    let bytes = Array(payload)
    guard bytes.count >= 72 else { return nil }
    let localPort = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
    let remotePort = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
    guard localPort == target.port, remotePort == peer.port, Array(bytes[24..<40]) == addressField(peer) || (peer.address.ipv6 == nil && Array(bytes[24..<28]) == bigEndian(peer.ipv4?.rawValue ?? 0))
    else {
      return nil
    }
    var offset = 72
    for _ in 0..<64 {
      guard offset + 4 <= bytes.count else { return nil }
      let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
      let type = (UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8) & 0x3FFF
      guard length >= 4, offset + length <= bytes.count else { return nil }
      if type == 2 && length >= 4 + 7 { return bytes[offset + 4 + 6] & 0x0F }
      offset += (length + 3) & ~3
    }
    return nil
  }
}
