import PacketKit
import RawSocket
import TCPScript

/// Our own kernel's RSTs for a flow sent without `--guard`: a second capture, on the flow's
/// interface, of segments *from* our address and port *to* the peer, kept only when they carry
/// RST and are not one we crafted ourselves.
///
/// Without the guard, our kernel sees the peer's answer (a SYN+ACK, data) for a port it has no
/// socket for and answers it with RST (RFC 9293 §3.10.7.1; kernel fact 1). The flow's own
/// capture takes only the peer's segments, so without this the transcript still shows
/// ESTABLISHED while the peer has already dropped the connection.
final class OwnKernelResets {
  private let socket: PacketSocket
  private let local: Endpoint
  private let remote: Endpoint

  /// Opens the capture before anything is sent; `nil` when it cannot (then nothing is shown).
  init?(local: Endpoint, remote: Endpoint) {
    guard let route = try? KernelTransport.route(to: remote.address),
      let program = try? CaptureFilter.segments(from: local, to: remote).compile(for: .ethernet)
    else { return nil }
    // On lo every packet passes twice (out, then in): keep only the looped copy there; on a
    // real interface the kernel's RST is an outgoing packet.
    guard let socket = try? PacketSocket(interface: route.interface, ignoreOutgoing: route.interface == "lo", filter: program) else {
      return nil
    }
    self.socket = socket
    self.local = local
    self.remote = remote
  }

  deinit { socket.close() }

  /// The kernel's RSTs captured so far (bounded: 64 frames, each wait at most `wait`), as
  /// `tcpdump -nn -S -t` lines; crafted segments of ours (same flags, seq and ack as a sent entry
  /// of `transcript`) are left out.
  func drain(transcript: Transcript, wait: Duration = .milliseconds(50)) -> [String] {
    var lines: [String] = []
    for _ in 0..<64 {
      guard let frame = (try? socket.receive(timeout: wait)) ?? nil else { break }
      guard frame.linkProtocol == PacketSocket.ipv4Protocol || frame.linkProtocol == PacketSocket.ipv6Protocol,
        frame.bytes.count > 14
      else { continue }
      let bytes = frame.bytes[14...]
      guard let ip = Flow.parseIP(bytes), ip.protocol == .tcp, !ip.isFragment,
        let tcp = try? TCPView(validating: ip.upperLayer), tcp.flags.contains(.rst)
      else { continue }
      let crafted = transcript.entries.contains {
        $0.direction == .sent && $0.sequenceNumber == tcp.sequenceNumber
          && $0.acknowledgmentNumber == tcp.acknowledgmentNumber && $0.flagBits == tcp.flags.rawValue
      }
      if !crafted { lines.append(tcpdumpSummary(bytes, linkType: frame.linkProtocol == PacketSocket.ipv6Protocol ? .raw : .ipv4)) }
    }
    return lines
  }

  /// The sentence printed under our kernel's RST.
  static func explanation(port: UInt16) -> String {
    "our own kernel sent this RST: no socket of ours owns port \(port) (tcpcraft crafts from a raw "
      + "socket), so the kernel answered the peer's segment with a reset (RFC 9293 §3.10.7.1) and the peer "
      + "dropped the connection. Add --guard to keep the kernel's RSTs for our port from leaving."
  }
}
