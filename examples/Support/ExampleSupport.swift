// What several examples share: reading HOST:PORT, printing a flow's segments as they pass, and a
// kernel listener on 127.0.0.1 for the examples that bring their own server.
import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `text` read as HOST:PORT (a dotted quad and a port), or `nil` when it is not one.
public func endpoint(_ text: String) -> Endpoint? {
  let parts = text.split(separator: ":")
  guard parts.count == 2, let address = IPv4Address(parts[0]), let port = UInt16(parts[1]) else { return nil }
  return Endpoint(address: address, port: port)
}

/// The first argument as HOST:PORT (127.0.0.1:8080 without one); prints `usage` and exits with
/// status 2 when it is not one.
public func targetArgument(usage: String) -> Endpoint {
  guard let target = endpoint(CommandLine.arguments.dropFirst().first ?? "127.0.0.1:8080") else {
    print(usage)
    exit(2)
  }
  return target
}

/// Prints every segment of `flow` as it is sent or received: tcpdump's line, our state change and
/// the peer's kernel state; with `explain`, a line on why the segment looks as it does.
public func printSegments(of flow: Flow, explain: Bool = false) {
  flow.onEntry = { [unowned flow] entry in
    print(entry.direction == .sent ? "out" : "in ", entry.summary, " [\(entry.stateChange) | peer \(entry.peerState ?? "?")]")
    let transcript = flow.transcript
    if explain, let why = Explainer.explain(entry, ourISS: transcript.initialSendSequence, peerIRS: transcript.initialReceiveSequence) {
      print("    ↳", why)
    }
  }
}

/// Prints a blank line and `flow`'s exchange as a ladder, our side on the left.
public func printLadder(of flow: Flow) {
  print()
  print(Ladder.draw(flow.transcript.entries, local: flow.local.description, remote: flow.remote.description))
}

/// A kernel TCP listener on 127.0.0.1 at a port the kernel picks (backlog 1), its calls made
/// through RawSocket's `SocketDescriptor` (the one syscall seam).
public struct LoopbackListener {
  public let descriptor: SocketDescriptor
  public let port: UInt16

  public init() throws(Errno) {
    let socket = try SocketDescriptor.open(domain: AF_INET, type: CInt(SOCK_STREAM.rawValue), protocol: 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = IPv4Address.loopback.rawValue.bigEndian
    do throws(Errno) {
      try withUnsafeBytes(of: &address) { raw throws(Errno) in try socket.bind(address: raw) }
      try socket.listen(backlog: 1)
      port = try socket.localIPv4Address().port
    } catch {
      try? socket.close()
      throw error
    }
    descriptor = socket
  }

  /// The next connection the kernel completed (blocks until there is one).
  public func accept() throws(Errno) -> SocketDescriptor {
    guard let connection = try descriptor.accept() else { throw Errno.resourceTemporarilyUnavailable }
    return connection
  }
}
