import PacketKit
import RawSocket

// The IPv6 and IPv4-mapped parts of a script's run: the tun device's addressing for `ipv6`
// mode, which captured packets are the kernel's, and the checks made before anything is created.

extension ScriptSession {
  /// `ipv6` mode's tun0, as packetdrill sets it up: MTU 1520, the local address with the mode's
  /// prefix length (no duplicate address detection: usable at once), and a route to the remote
  /// end through tun0 via the gateway.
  func setUpIPv6(_ device: TunDevice) throws(SocketError) {
    try InterfaceSetup.bringUp(device.name, mtu: options.ipv6MTU)
    try InterfaceSetup.addIPv6Address(device.name, address: options.localIPv6.octets, prefixLength: options.ipv6PrefixLength)
    try InterfaceSetup.addIPv6Route(
      destination: options.remoteIPv6.octets, prefixLength: 128, gateway: options.gatewayIPv6.octets, device: device.name)
  }

  /// Whether a packet read from tun0 is the kernel under test's: IPv4 in `ipv4` and mapped modes;
  /// in `ipv6` mode, IPv6 from the local address (tun0's link-local router solicitations and MLD
  /// reports are the namespace's own chatter, not the script's).
  func isFromKernelUnderTest(_ packet: [UInt8]) -> Bool {
    guard connection.ipVersion.wireIsIPv6 else { return packet.first.map { $0 >> 4 } == 4 }
    guard let ip = try? IPv6View(validating: packet[...]), ip.version == 6 else { return false }
    return ip.sourceAddress == connection.localIPv6
  }

  /// Reasons not to run, about addressing: a script parsed for another IP version than the run's
  /// (its ICMP lines would carry the other ICMP's numbers). A script's own `--local_ip=` and
  /// `--remote_ip=` give way to the run's addresses, as packetdrill's command line (run_all.py's)
  /// overrides them.
  func preflightAddressing() throws(Stop) {
    guard let forced = options.ipVersion, forced != script.ipVersion else { return }
    for event in script.events {
      if case .icmp = event.action {
        throw Stop(
          status: .notRun,
          reason: "\(event.location.file):\(event.location.line): the script was parsed for \(script.ipVersion.rawValue) "
            + "(its ICMP lines' numbers), the run is \(forced.rawValue): parse it with ipVersion: .\(forced)")
      }
    }
  }
}
