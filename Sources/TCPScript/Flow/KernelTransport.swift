import PacketKit
import RawSocket

/// The real transport of a flow: a raw socket to send (`AF_INET` with `IP_HDRINCL`, or for an
/// IPv6 flow `AF_INET6` with `IPV6_HDRINCL`, which sends the header exactly as built: kernel fact
/// 18), an `AF_PACKET` capture on the route's interface to receive (IPv4 and IPv6 frames, the BPF
/// filter picks the 4-tuple), and (optionally) the RST guard that keeps the kernel from resetting
/// the connection we craft (its nf_tables rules match the flow's IPv4 or IPv6 4-tuple).
///
/// Order matters and is kept here: the capture (with its BPF filter for the 4-tuple) is opened
/// *before* anything is sent, so no reply can slip past; the guard is installed before the first
/// SYN, so the kernel's RST to the SYN+ACK never leaves (kernel fact 1); the raw socket is created
/// under the guard's exempt group, so our own crafted RSTs still go out (fact 2).
public final class KernelTransport: FlowTransport {
  /// The interface the route to the peer uses (`lo` for 127.0.0.0/8).
  public let interfaceName: String
  /// The source address the kernel would choose for the peer.
  public let sourceAddress: IPAddress
  private var raw: RawIPv4Socket?
  private var raw6: RawIPv6Socket?
  private let capture: PacketSocket
  private var rstGuard: RSTGuard?
  private var diag: InetDiag?
  private var closed = false

  /// Where a flow to `remote` (either family) would leave from: (interface, source address).
  /// An IPv6 route without a preferred source (`RTA_PREFSRC`) to a local address answers from
  /// that address itself (`::1` talks to `::1`).
  public static func route(to remote: IPAddress) throws(ScriptError) -> (interface: String, source: IPAddress) {
    switch remote {
    case .v4(let address):
      let route = try route(to: address)
      return (route.interface, .v4(route.source))
    case .v6(let address):
      let found = try routeLookup(for: remote) { () throws(NetlinkError) in try RouteLookup.route(toIPv6: address.octets) }
      if let source = found.sourceAddress {
        return (found.interfaceName, .v6(IPv6Address(octets: source)))
      }
      if found.isLocal { return (found.interfaceName, remote) }
      throw .system(
        step: "route lookup for \(address)",
        description: "the kernel names no source address toward it (is an IPv6 address configured on \(found.interfaceName)?)")
    }
  }

  /// Where a flow to `remote` would leave from: (interface, source address).
  public static func route(to remote: IPv4Address) throws(ScriptError) -> (interface: String, source: IPv4Address) {
    let route = try routeLookup(for: .v4(remote)) { () throws(NetlinkError) in try RouteLookup.route(to: remote.rawValue) }
    return (route.interfaceName, IPv4Address(rawValue: route.sourceAddress))
  }

  /// `lookup` (a route lookup toward `target`), its netlink error as "route lookup for TARGET".
  static func routeLookup<Found>(
    for target: IPAddress, _ lookup: () throws(NetlinkError) -> Found
  ) throws(ScriptError) -> Found {
    do {
      return try lookup()
    } catch {
      throw .system(step: "route lookup for \(target)", description: error.description)
    }
  }

  /// Opens capture, guard and raw socket for the flow `local` ⇄ `remote`.
  ///
  /// - Parameters:
  ///   - interface: the capture interface (default: the route's).
  ///   - guardResets: install an `RSTGuard` for our port (and the peer, when known); `false`
  ///     when another process already holds one (a resumed session) or for a plain send.
  ///   - remote: `port` 0 (and address 0) for "any peer": a passive open waiting for a SYN.
  public init(local: Endpoint, remote: Endpoint, interface: String, guardResets: Bool) throws(ScriptError) {
    try KernelTransport.requirePrivileges(guardResets ? [.netRaw, .netAdmin] : [.netRaw])
    interfaceName = interface
    sourceAddress = local.address
    let program: BPFProgram
    do throws(CaptureFilterError) {
      program = try CaptureFilter.segments(from: remote, to: local).compile(for: .ethernet)
    } catch {
      throw .packet(step: "compiling the capture filter", description: error.description)
    }
    do {
      capture = try PacketSocket(interface: interface, ignoreOutgoing: true, filter: program)
    } catch {
      throw KernelTransport.scriptError(error, step: "opening the capture on \(interface)")
    }
    if guardResets {
      do {
        rstGuard = try RSTGuard(
          // A wildcard local address (listen 0.0.0.0:PORT or [::]:PORT) guards the port on every
          // address of the family: the kernel's RSTs never carry the unspecified address.
          sourcePort: local.port, sourceAddress: local.isAnyAddress ? nil : local.ipv4?.rawValue,
          destinationAddress: remote.isAnyAddress ? nil : remote.ipv4?.rawValue,
          destinationPort: remote.port == 0 ? nil : remote.port,
          sourceIPv6: local.isAnyAddress ? nil : local.ipv6?.octets,
          destinationIPv6: remote.isAnyAddress ? nil : remote.ipv6?.octets,
          ipv6: local.family == .ipv6)
      } catch {
        capture.close()
        throw .system(step: "installing the RST guard (nf_tables)", description: error.description)
      }
    }
    do {
      // Passes the guard: it exempts this user's sockets.
      if local.family == .ipv6 {
        raw6 = try RawIPv6Socket()
      } else {
        raw = try RawIPv4Socket()
      }
    } catch {
      capture.close()
      rstGuard?.close()
      throw KernelTransport.scriptError(error, step: "opening the raw socket")
    }
    diag = try? InetDiag()
  }

  deinit { close() }

  /// Fails with the capability message when the process lacks what a flow needs.
  public static func requirePrivileges(_ capabilities: [Capability] = [.netRaw, .netAdmin]) throws(ScriptError) {
    let missing = Capabilities.missing(capabilities)
    if !missing.isEmpty {
      throw .privileges(CapabilityError(missing: missing, executablePath: Capabilities.executablePath()).description)
    }
  }

  public func send(_ packet: [UInt8], to address: IPAddress) throws(ScriptError) {
    do throws(SocketError) {
      switch address {
      case .v4(let v4):
        guard let raw else { throw .system(operation: "sendto", .addressFamilyNotSupported) }
        try raw.send(packet, to: v4.rawValue)
      case .v6(let v6):
        guard let raw6 else { throw .system(operation: "sendto", .addressFamilyNotSupported) }
        try raw6.send(packet, to: v6.octets)
      }
    } catch {
      throw KernelTransport.scriptError(error, step: "sending")
    }
  }

  public func receive(timeout: Duration) throws(ScriptError) -> CapturedPacket? {
    let frame: CapturedFrame?
    do {
      frame = try capture.receive(timeout: timeout)
    } catch {
      throw KernelTransport.scriptError(error, step: "capturing")
    }
    guard let frame else { return nil }
    // Ethernet-style link header (Ethernet, veth and lo all give 14 bytes); IPv4 or IPv6.
    guard frame.linkProtocol == PacketSocket.ipv4Protocol || frame.linkProtocol == PacketSocket.ipv6Protocol,
      frame.bytes.count > 14
    else {
      return CapturedPacket(bytes: [], timestampSeconds: frame.timestamp.seconds, timestampNanoseconds: 0, checksumNotReady: false)
    }
    return CapturedPacket(
      bytes: Array(frame.bytes[14...]), timestampSeconds: frame.timestamp.seconds,
      timestampNanoseconds: Int32(truncatingIfNeeded: frame.timestamp.nanoseconds),
      checksumNotReady: frame.checksumNotReady)
  }

  public func peerState(local: Endpoint, remote: Endpoint) -> String? {
    // Only a local peer has a socket inet_diag can see.
    if localPeers[remote.address] == nil {
      switch remote.address {
      case .v4(let v4): localPeers[remote.address] = (try? RouteLookup.route(to: v4.rawValue))?.isLocal ?? false
      case .v6(let v6): localPeers[remote.address] = (try? RouteLookup.route(toIPv6: v6.octets))?.isLocal ?? false
      }
      // Or a socket in the namespace `sandbox --join` named (demo --serve --veth's server).
      if localPeers[remote.address] == false, let there = PeerNamespace.diag(owning: remote.address) {
        diag = there
        localPeers[remote.address] = true
      }
    }
    guard localPeers[remote.address] == true else { return nil }
    let state = KernelTransport.kernelState(of: remote, peer: local, diag: diag, connectionSeen: sawPeerConnection)
    if let state, state != "LISTEN", state != "CLOSED", state != "(no socket)" { sawPeerConnection = true }
    return state
  }

  public func peerSample(local: Endpoint, remote: Endpoint) -> PeerSample? {
    guard let state = peerState(local: local, remote: remote) else { return nil }
    var timer: UInt32?
    // The TIME-WAIT timer, so that 2·MSL is seen counting down (idiag_expires, in ms).
    if state == "TIME_WAIT", let socket = KernelTransport.diagSocket(of: remote, peer: local, diag: diag) {
      timer = socket.timerExpiresMilliseconds
    }
    return PeerSample(state: state, timerMilliseconds: timer)
  }

  private var sawPeerConnection = false
  private var localPeers: [IPAddress: Bool] = [:]

  /// The Linux state of the local socket `socket` talking to `peer`: the connection's state;
  /// `CLOSED` when there is no such connection but there was one (`connectionSeen`), or none and
  /// nothing listens either; `LISTEN` when only a listener owns the port; `nil` when the state
  /// cannot be read at all.
  public static func kernelState(of socket: Endpoint, peer: Endpoint, diag: InetDiag?, connectionSeen: Bool = false) -> String? {
    guard let diag, socket.family == peer.family else { return nil }
    if let found = diagSocket(of: socket, peer: peer, diag: diag), let state = found.state {
      return state.netstatName
    }
    if connectionSeen { return "CLOSED" }
    let listening: Bool
    switch socket.address {
    case .v4(let v4):
      listening = ((try? diag.sockets(localPort: socket.port, localAddress: v4.rawValue)) ?? []).contains { $0.state == .listen }
    case .v6(let v6):
      let zero = [UInt8](repeating: 0, count: 16)
      listening = ((try? diag.allIPv6Sockets(states: KernelTCPState.listen.maskBit)) ?? []).contains {
        $0.localPort == socket.port && ($0.localAddress6 == v6.octets || $0.localAddress6 == zero)
      }
    }
    return listening ? "LISTEN" : "CLOSED"
  }

  /// The kernel socket `socket` talking to `peer` (same family), by the exact 4-tuple.
  static func diagSocket(of socket: Endpoint, peer: Endpoint, diag: InetDiag?) -> KernelTCPSocket? {
    guard let diag else { return nil }
    switch (socket.address, peer.address) {
    case (.v4(let local), .v4(let remote)):
      return (try? diag.socket(
        localAddress: local.rawValue, localPort: socket.port, remoteAddress: remote.rawValue, remotePort: peer.port)) ?? nil
    case (.v6(let local), .v6(let remote)):
      return (try? diag.socket(
        localIPv6: local.octets, localPort: socket.port, remoteIPv6: remote.octets, remotePort: peer.port)) ?? nil
    default:
      return nil
    }
  }

  public func close() {
    guard !closed else { return }
    closed = true
    raw?.close()
    raw6?.close()
    capture.close()
    rstGuard?.close()
    rstGuard = nil
  }

  public static func scriptError(_ error: SocketError, step: String) -> ScriptError {
    switch error {
    case .missingCapability(let capability): .privileges(capability.description)
    case .blockedByFirewall: .blockedByFirewall(step: step)
    default: .system(step: step, description: error.description)
    }
  }
}

extension Flow {
  /// Opens a flow to `remote` over the real kernel: looks up the route (interface and source
  /// address), opens the capture, installs the RST guard (unless `guardResets` is `false`) and
  /// the raw socket, in that order, before anything is sent.
  ///
  /// - Parameters:
  ///   - sourcePort: our port; default a random one in 32768…60999 (Linux's ephemeral range).
  ///   - sourceAddress: our address; default the one the kernel would choose.
  public static func open(
    to remote: Endpoint, sourcePort: UInt16? = nil, sourceAddress: IPAddress? = nil,
    guardResets: Bool = true, state: TCPState = .closed, initialSendSequence: UInt32? = nil,
    sendNext: UInt32? = nil, receiveNext: UInt32 = 0, initialReceiveSequence: UInt32? = nil
  ) throws(ScriptError) -> Flow {
    try KernelTransport.requirePrivileges(guardResets ? [.netRaw, .netAdmin] : [.netRaw])
    let route = try KernelTransport.route(to: remote.address)
    let port = sourcePort ?? freeEphemeralPort()
    let local = Endpoint(address: sourceAddress ?? route.source, port: port)
    guard local.family == remote.family else {
      throw .system(
        step: "opening a flow to \(remote)",
        description: "the source address \(local.address) is \(local.family), the peer \(remote.family): one family per flow")
    }
    let transport = try KernelTransport(local: local, remote: remote, interface: route.interface, guardResets: guardResets)
    return Flow(
      local: local, remote: remote, transport: transport, state: state,
      initialSendSequence: initialSendSequence, sendNext: sendNext, receiveNext: receiveNext,
      initialReceiveSequence: initialReceiveSequence)
  }

  /// `open(to:...)` with an IPv4 source address (kept for callers written before IPv6).
  public static func open(
    to remote: Endpoint, sourcePort: UInt16? = nil, sourceAddress: IPv4Address,
    guardResets: Bool = true, state: TCPState = .closed, initialSendSequence: UInt32? = nil,
    sendNext: UInt32? = nil, receiveNext: UInt32 = 0, initialReceiveSequence: UInt32? = nil
  ) throws(ScriptError) -> Flow {
    try open(
      to: remote, sourcePort: sourcePort, sourceAddress: IPAddress.v4(sourceAddress), guardResets: guardResets,
      state: state, initialSendSequence: initialSendSequence, sendNext: sendNext, receiveNext: receiveNext,
      initialReceiveSequence: initialReceiveSequence)
  }

  /// A random port in Linux's ephemeral range (32768…60999) that no local TCP socket uses, as far
  /// as `inet_diag` says (a few tries; the last pick is returned regardless).
  public static func freeEphemeralPort() -> UInt16 {
    var generator = SystemRandomNumberGenerator()
    let diag = try? InetDiag()
    let used = Set(((try? diag?.allSockets()) ?? []).map(\.localPort) + ((try? diag?.allIPv6Sockets()) ?? []).map(\.localPort))
    var port = UInt16.random(in: 32768...60999, using: &generator)
    for _ in 0..<32 where used.contains(port) {
      port = UInt16.random(in: 32768...60999, using: &generator)
    }
    return port
  }

  /// A flow that waits, on `local`, for a client's SYN (a passive open by hand). The kernel's
  /// RSTs from `local.port` are guarded (no kernel socket listens there).
  public static func listening(on local: Endpoint, interface: String? = nil) throws(ScriptError) -> Flow {
    try KernelTransport.requirePrivileges()
    let interfaceName: String
    if let interface {
      interfaceName = interface
    } else {
      interfaceName = try KernelTransport.route(to: local.isAnyAddress ? local.family.loopback : local.address).interface
    }
    let any = Endpoint(address: .any, port: 0)
    let transport = try KernelTransport(local: local, remote: any, interface: interfaceName, guardResets: true)
    let flow = Flow(local: local, remote: any, transport: transport)
    flow.listen()
    return flow
  }
}
