import PacketKit
import RawSocket

#if canImport(Glibc)
import Glibc
#endif

/// A layer-2 link to a probe target: frames go out through `AF_PACKET` on the route's interface,
/// so every IPv4 header stays exactly as built (a raw IPv4 socket would fix the checksum and the
/// total length), and replies (TCP to our port, and ICMP) come back through the same socket,
/// filtered in the kernel.
///
/// When our source address is one the host owns, the host's kernel would answer the target's
/// SYN+ACKs with RSTs (kernel fact 1): `guardResets` installs the RST guard for our port. A frame
/// sent at layer 2 never passes the output hook, so our own crafted RSTs still go out. With an
/// address no interface owns (and a static neighbour entry on the target's side, kernel fact 7)
/// no guard is needed.
public final class ProbeLink: FlowTransport {
  public let interfaceName: String
  public let sourceMAC: MACAddress
  public let destinationMAC: MACAddress
  public let local: Endpoint
  private let socket: PacketSocket
  /// On `lo` frames sent through AF_PACKET never reach TCP (observed on Linux 6.18: they count
  /// in IpInReceives and then vanish, without any drop counter), so packets go out through
  /// a raw IPv4 socket instead (created under the guard's exempt group); the kernel then rewrites
  /// the IPv4 checksum and total length, which `keepsIPv4HeaderExact` reports.
  private var raw: RawIPv4Socket?
  /// On `lo` over IPv6: a raw IPv6 socket with `IPV6_HDRINCL` (kernel fact 18: the header as built).
  private var raw6: RawIPv6Socket?
  /// Whether IPv4 headers reach the wire exactly as built (layer 2).
  public var keepsIPv4HeaderExact: Bool { raw == nil }
  private var rstGuard: RSTGuard?
  /// For an IPv6 link: the target's address (frames from it to `local` are the ones received).
  private var remote6: IPv6Address?
  private var frame: [UInt8] = []
  private var closed = false

  /// Where frames to `target` (IPv4 or IPv6) leave from: the interface, the source address the
  /// kernel would choose, our MAC and the next hop's MAC (all zero on `lo`). An unresolved
  /// neighbour is resolved by sending one UDP datagram to the target's discard port (bounded:
  /// 6 tries, 100 ms apart).
  public static func route(
    to target: IPAddress
  ) throws(ScriptError) -> (interface: String, source: IPAddress, sourceMAC: MACAddress, destinationMAC: MACAddress) {
    for attempt in 0..<6 {
      let hop = try nextHop(to: target)
      if let next = hop.nextHopMAC.flatMap({ MACAddress(bytes: $0) }), let source = hop.source {
        return (hop.interface, source, MACAddress(bytes: hop.interfaceMAC) ?? .zero, next)
      }
      if attempt == 0 { nudgeNeighbour(hop.nextHop) }
      SystemSleep.sleep(for: .milliseconds(100))
    }
    throw .system(
      step: "resolving the next hop's MAC for \(target)",
      description: "no neighbour entry (\(target.ipv6 == nil ? "ARP" : "neighbour discovery") got no answer); give it with --dst-mac")
  }

  /// The IPv4 form of `route(to:)`.
  public static func route(
    to target: IPv4Address
  ) throws(ScriptError) -> (interface: String, source: IPv4Address, sourceMAC: MACAddress, destinationMAC: MACAddress) {
    let route = try route(to: .v4(target))
    return (route.interface, route.source.ipv4 ?? .any, route.sourceMAC, route.destinationMAC)
  }

  /// One route lookup toward `target`: the interface, the source (`nil` when the kernel gave none
  /// for an IPv6 target that is not local), the MACs as the kernel knows them, and the address to
  /// nudge when the next hop's MAC is unknown (IPv4: the gateway or the target; IPv6: the target).
  private static func nextHop(
    to target: IPAddress
  ) throws(ScriptError) -> (interface: String, source: IPAddress?, interfaceMAC: [UInt8], nextHopMAC: [UInt8]?, nextHop: IPAddress) {
    switch target {
    case .v4(let address):
      let route = try KernelTransport.routeLookup(for: target) { () throws(NetlinkError) in
        try RouteLookup.route(to: address.rawValue)
      }
      return (
        route.interfaceName, .v4(IPv4Address(rawValue: route.sourceAddress)), route.interfaceMAC, route.nextHopMAC,
        .v4(IPv4Address(rawValue: route.nextHop)))
    case .v6(let address):
      let route = try KernelTransport.routeLookup(for: target) { () throws(NetlinkError) in
        try RouteLookup.route(toIPv6: address.octets)
      }
      guard route.routeType == 1 || route.routeType == 2 else {
        throw .system(step: "route lookup for \(target)", description: "no route to it (route type \(route.routeType))")
      }
      let source = route.sourceAddress.flatMap { $0.count == 16 ? IPv6Address(octets: $0) : nil } ?? (route.isLocal ? address : nil)
      return (route.interfaceName, source.map(IPAddress.v6), route.interfaceMAC, route.nextHopMAC, target)
    }
  }

  /// One UDP datagram to port 9 (discard) makes the kernel resolve the neighbour.
  private static func nudgeNeighbour(_ address: IPAddress) {
    let (domain, peer): (CInt, ScriptSocketAddress) =
      switch address {
      case .v4(let v4): (AF_INET, .ipv4(address: v4.rawValue, port: 9))
      case .v6(let v6): (AF_INET6, .ipv6(address: v6.octets, port: 9))
      }
    guard let socket = try? SocketDescriptor.open(domain: domain, type: CInt(SOCK_DGRAM.rawValue), protocol: 0) else { return }
    defer { try? socket.close() }
    _ = ScriptSockets.sendto(socket.rawValue, bytes: [0], flags: CInt(MSG_DONTWAIT), to: peer)
  }

  /// What both families' links start with: the privileges checked, the ends, and the capture
  /// `openCapture` opens (before anything is sent).
  private init(
    interface: String, sourceMAC: MACAddress, destinationMAC: MACAddress, local: Endpoint, guardResets: Bool,
    openCapture: () throws(ScriptError) -> PacketSocket
  ) throws(ScriptError) {
    try KernelTransport.requirePrivileges(guardResets ? [.netRaw, .netAdmin] : [.netRaw])
    interfaceName = interface
    self.sourceMAC = sourceMAC
    self.destinationMAC = destinationMAC
    self.local = local
    socket = try openCapture()
    frame.reserveCapacity(2048)
  }

  /// Opens the capture (filter: TCP from `remoteAddress` to `local`, and ICMP from it) before
  /// anything is sent, then the guard when asked.
  public convenience init(
    interface: String, sourceMAC: MACAddress, destinationMAC: MACAddress, local: Endpoint, remoteAddress: IPv4Address,
    guardResets: Bool
  ) throws(ScriptError) {
    try self.init(
      interface: interface, sourceMAC: sourceMAC, destinationMAC: destinationMAC, local: local, guardResets: guardResets
    ) { () throws(ScriptError) in
      let text =
        "src host \(remoteAddress) and dst host \(local.address) "
        + "and ((tcp and dst port \(local.port)) or icmp)"
      let program: BPFProgram
      do throws(CaptureFilterError) {
        program = try CaptureFilter(parsing: text).compile(for: .ethernet)
      } catch {
        throw .system(step: "compiling the capture filter \"\(text)\"", description: error.description)
      }
      do throws(SocketError) {
        return try PacketSocket(interface: interface, protocol: PacketSocket.allProtocols, filter: program)
      } catch {
        throw KernelTransport.scriptError(error, step: "opening the capture on \(interface)")
      }
    }
    if guardResets {
      do {
        rstGuard = try RSTGuard(sourcePort: local.port, sourceAddress: local.ipv4?.rawValue, destinationAddress: remoteAddress.rawValue)
      } catch {
        socket.close()
        throw .system(step: "installing the RST guard (nf_tables)", description: error.description)
      }
    }
    if interface == "lo" {
      do {
        raw = try RawIPv4Socket()  // passes the guard: it exempts this user's sockets
      } catch {
        socket.close()
        rstGuard?.close()
        throw KernelTransport.scriptError(error, step: "opening the raw socket")
      }
    }
  }

  /// An IPv6 link at layer 2 (EtherType 0x86DD) from `local` to `remoteAddress`: every IPv6
  /// packet from the target to `local` is received (the flow and the case pick theirs; on lo,
  /// where both can be `::1`, our own TCP segments are left out by their ports), neighbour
  /// discovery and everything else is left out. From an address no interface of this host owns no
  /// RST guard is needed (kernel fact 7); from one it owns, `guardResets` installs it for the
  /// IPv6 4-tuple. On lo packets leave through a raw IPv6 socket with `IPV6_HDRINCL` (kernel fact
  /// 18), created by us and so exempt from the guard.
  public convenience init(
    interface: String, sourceMAC: MACAddress, destinationMAC: MACAddress, local: Endpoint, remoteAddress6: IPv6Address,
    guardResets: Bool = false
  ) throws(ScriptError) {
    try self.init(
      interface: interface, sourceMAC: sourceMAC, destinationMAC: destinationMAC, local: local, guardResets: guardResets
    ) { () throws(ScriptError) in
      do throws(SocketError) {
        return try PacketSocket(interface: interface, protocol: 0x86DD)
      } catch {
        throw KernelTransport.scriptError(error, step: "opening the IPv6 capture on \(interface)")
      }
    }
    remote6 = remoteAddress6
    if guardResets, let source = local.address.ipv6 {
      do {
        rstGuard = try RSTGuard(sourcePort: local.port, sourceIPv6: source.octets, destinationIPv6: remoteAddress6.octets)
      } catch {
        socket.close()
        throw .system(step: "installing the RST guard (nf_tables)", description: error.description)
      }
    }
    if interface == "lo" {
      do {
        raw6 = try RawIPv6Socket()
      } catch {
        socket.close()
        rstGuard?.close()
        throw KernelTransport.scriptError(error, step: "opening the raw IPv6 socket")
      }
    }
  }

  deinit { close() }

  /// Sends one IPv4 packet (bytes exactly as given) in an Ethernet frame.
  public func send(_ packet: [UInt8], to address: IPAddress) throws(ScriptError) {
    if let raw6, let remote6 {
      do {
        try raw6.send(packet, to: remote6.octets)
      } catch {
        throw KernelTransport.scriptError(error, step: "sending")
      }
      return
    }
    if let raw {
      guard let address = address.ipv4 else {
        throw .system(step: "sending", description: "this link sends IPv4 only")
      }
      do {
        try raw.send(packet, to: address.rawValue)
      } catch {
        throw KernelTransport.scriptError(error, step: "sending")
      }
      return
    }
    frame.removeAll(keepingCapacity: true)
    frame.append(contentsOf: destinationMAC.bytes)
    frame.append(contentsOf: sourceMAC.bytes)
    // The link's family decides the EtherType, never the packet (a forged version stays IPv4).
    let isIPv6 = remote6 != nil
    frame.append(isIPv6 ? 0x86 : 0x08)
    frame.append(isIPv6 ? 0xDD : 0x00)
    frame.append(contentsOf: packet)
    do {
      try socket.send(frame: frame)
    } catch {
      throw KernelTransport.scriptError(error, step: "sending a frame on \(interfaceName)")
    }
  }

  /// The next captured IPv4 packet (without its link header), or `nil` at the deadline.
  public func receive(timeout: Duration) throws(ScriptError) -> CapturedPacket? {
    let captured: CapturedFrame?
    do {
      captured = try socket.receive(timeout: timeout)
    } catch {
      throw KernelTransport.scriptError(error, step: "capturing on \(interfaceName)")
    }
    guard let captured else { return nil }
    if let remote6 {
      guard captured.bytes.count > 14 + 40, captured.bytes[12] == 0x86, captured.bytes[13] == 0xDD,
        let ip = try? IPv6View(validating: captured.bytes[14...]), ip.sourceAddress == remote6,
        IPAddress.v6(ip.destinationAddress) == local.address,
        // On lo our own segments come back too (source and target both `::1`): theirs only.
        ip.nextHeader != .tcp || (try? TCPView(validating: ip.payload)).map({ $0.destinationPort == local.port }) ?? true
      else {
        return CapturedPacket(bytes: [], timestampSeconds: captured.timestamp.seconds, timestampNanoseconds: 0, checksumNotReady: false)
      }
    } else if captured.bytes.count <= 14 || captured.bytes[12] != 0x08 || captured.bytes[13] != 0x00 {
      return CapturedPacket(bytes: [], timestampSeconds: captured.timestamp.seconds, timestampNanoseconds: 0, checksumNotReady: false)
    }
    return CapturedPacket(
      bytes: Array(captured.bytes[14...]), timestampSeconds: captured.timestamp.seconds,
      timestampNanoseconds: Int32(truncatingIfNeeded: captured.timestamp.nanoseconds),
      checksumNotReady: captured.checksumNotReady)
  }

  /// The next packet for this link (as `receive(timeout:)`, passing over frames that are not),
  /// or `nil` at `deadline`.
  public func receive(until deadline: ContinuousClock.Instant) throws(ScriptError) -> CapturedPacket? {
    let clock = ContinuousClock()
    for _ in 0..<10_000 {
      let remaining = clock.now.duration(to: deadline)
      guard remaining > .zero, let packet = try receive(timeout: remaining) else { return nil }
      if !packet.bytes.isEmpty { return packet }
    }
    return nil
  }

  public func close() {
    guard !closed else { return }
    closed = true
    socket.close()
    raw?.close()
    raw6?.close()
    rstGuard?.close()
    rstGuard = nil
  }
}
