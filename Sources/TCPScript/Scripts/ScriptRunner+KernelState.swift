import PacketKit
import RawSocket

// The kernel socket's state beside each TCP segment, for pictures (`run --svg`, `--pcapng`):
// inet_diag asked in the script's namespace, for the socket of the run's own family.

extension ScriptSession {
  /// The kernel socket's state for a TCP segment's connection (`samplesKernelState`), IPv4 or
  /// IPv6 on the wire; `nil` for anything but TCP.
  mutating func kernelState(for packet: [UInt8], inbound: Bool) -> String? {
    guard let wire = ScriptWirePacket(packet), let tcp = wire.tcp else { return nil }
    if diag == nil { diag = try? InetDiag(timeout: .milliseconds(200)) }
    let kernel = diagEndpoint(inbound ? wire.destination : wire.source, port: inbound ? tcp.destinationPort : tcp.sourcePort)
    let remote = diagEndpoint(inbound ? wire.source : wire.destination, port: inbound ? tcp.sourcePort : tcp.destinationPort)
    // A new connection's SYN: what was before it (a closed socket) does not count as seen.
    if tcp.flags.contains(.syn), !tcp.flags.contains(.ack) { sawKernelConnection = false }
    let state = KernelTransport.kernelState(of: kernel, peer: remote, diag: diag, connectionSeen: sawKernelConnection)
    if let state, state != "LISTEN", state != "CLOSED" { sawKernelConnection = true }
    return state
  }

  /// A wire address as the kernel socket holds it: as it is, except in `ipv4-mapped-ipv6` mode,
  /// whose `AF_INET6` sockets talk IPv4 on the wire and hold `::ffff:a.b.c.d` (inet_diag lists
  /// them as IPv6 sockets only).
  func diagEndpoint(_ address: IPAddress, port: UInt16) -> Endpoint {
    if connection.ipVersion == .ipv4MappedIPv6, case .v4(let v4) = address {
      return Endpoint(address: .v6(IPv6Address(ipv4Mapped: v4)), port: port)
    }
    return Endpoint(address: address, port: port)
  }
}
