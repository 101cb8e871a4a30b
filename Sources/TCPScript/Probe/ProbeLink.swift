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
  public let sourceMAC: [UInt8]
  public let destinationMAC: [UInt8]
  public let local: Endpoint
  private let socket: PacketSocket
  /// On `lo` frames sent through AF_PACKET never reach TCP (observed on Linux 6.18: they count
  /// in IpInReceives and then vanish, without any drop counter), so packets go out through
  /// a raw IPv4 socket instead (created under the guard's exempt group); the kernel then rewrites
  /// the IPv4 checksum and total length, which `keepsIPv4HeaderExact` reports.
  private var raw: RawIPv4Socket?
  /// Whether IPv4 headers reach the wire exactly as built (layer 2).
  public var keepsIPv4HeaderExact: Bool { raw == nil }
  private var rstGuard: RSTGuard?
  private var frame: [UInt8] = []
  private var closed = false

  /// Where frames to `target` leave from: the interface, the source address the kernel would
  /// choose, our MAC and the next hop's MAC (all zero on `lo`). An unresolved neighbour is
  /// resolved by sending one UDP datagram to the target's discard port (bounded retries).
  public static func route(to target: UInt32) throws(ScriptError) -> (interface: String, source: UInt32, sourceMAC: [UInt8], destinationMAC: [UInt8]) {
    for attempt in 0..<6 {
      let route: Route
      do {
        route = try RouteLookup.route(to: target)
      } catch {
        throw .system(step: "route lookup for \(IPv4Text.format(target))", description: error.description)
      }
      if let next = route.nextHopMAC, next.count == 6 {
        let mac = route.interfaceMAC.count == 6 ? route.interfaceMAC : [0, 0, 0, 0, 0, 0]
        return (route.interfaceName, route.sourceAddress, mac, next)
      }
      if attempt == 0 { nudgeNeighbour(route.nextHop) }
      var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
      _ = nanosleep(&pause, nil)
    }
    throw .system(
      step: "resolving the next hop's MAC for \(IPv4Text.format(target))",
      description: "no neighbour entry (ARP got no answer); give it with --dst-mac")
  }

  /// One UDP datagram to port 9 (discard) makes the kernel resolve the neighbour.
  private static func nudgeNeighbour(_ address: UInt32) {
    let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { Glibc.close(fd) }
    var peer = sockaddr_in()
    peer.sin_family = sa_family_t(AF_INET)
    peer.sin_port = UInt16(9).bigEndian
    peer.sin_addr.s_addr = address.bigEndian
    let byte: [UInt8] = [0]
    _ = withUnsafePointer(to: &peer) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        sendto(fd, byte, 1, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
  }

  /// Opens the capture (filter: TCP from `remoteAddress` to `local`, and ICMP from it) before
  /// anything is sent, then the guard when asked.
  public init(
    interface: String, sourceMAC: [UInt8], destinationMAC: [UInt8], local: Endpoint, remoteAddress: UInt32,
    guardResets: Bool
  ) throws(ScriptError) {
    try KernelTransport.requirePrivileges(guardResets ? [.netRaw, .netAdmin] : [.netRaw])
    interfaceName = interface
    self.sourceMAC = sourceMAC.count == 6 ? sourceMAC : [0, 0, 0, 0, 0, 0]
    self.destinationMAC = destinationMAC.count == 6 ? destinationMAC : [0, 0, 0, 0, 0, 0]
    self.local = local
    let text =
      "src host \(IPv4Text.format(remoteAddress)) and dst host \(IPv4Text.format(local.address)) "
      + "and ((tcp and dst port \(local.port)) or icmp)"
    let program: BPFProgram
    do {
      program = try CaptureFilter(parsing: text).compile(for: .ethernet)
    } catch {
      throw .system(step: "compiling the capture filter \"\(text)\"", description: error.description)
    }
    do {
      socket = try PacketSocket(interface: interface, protocol: PacketSocket.allProtocols, filter: program)
    } catch {
      throw KernelTransport.scriptError(error, step: "opening the capture on \(interface)")
    }
    if guardResets {
      do {
        rstGuard = try RSTGuard(sourcePort: local.port, sourceAddress: local.address, destinationAddress: remoteAddress)
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
    frame.reserveCapacity(2048)
  }

  deinit { close() }

  /// Sends one IPv4 packet (bytes exactly as given) in an Ethernet frame.
  public func send(_ packet: [UInt8], to address: UInt32) throws(ScriptError) {
    if let raw {
      do {
        try raw.send(packet, to: address)
      } catch {
        throw KernelTransport.scriptError(error, step: "sending")
      }
      return
    }
    frame.removeAll(keepingCapacity: true)
    frame.append(contentsOf: destinationMAC)
    frame.append(contentsOf: sourceMAC)
    frame.append(0x08)
    frame.append(0x00)
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
    guard captured.bytes.count > 14, captured.bytes[12] == 0x08, captured.bytes[13] == 0x00 else {
      return CapturedPacket(bytes: [], timestampSeconds: captured.timestamp.seconds, timestampNanoseconds: 0, checksumNotReady: false)
    }
    return CapturedPacket(
      bytes: Array(captured.bytes[14...]), timestampSeconds: captured.timestamp.seconds,
      timestampNanoseconds: Int32(truncatingIfNeeded: captured.timestamp.nanoseconds),
      checksumNotReady: captured.checksumNotReady)
  }

  public func close() {
    guard !closed else { return }
    closed = true
    socket.close()
    raw?.close()
    rstGuard?.close()
    rstGuard = nil
  }
}
