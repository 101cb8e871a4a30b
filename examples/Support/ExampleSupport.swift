// What several examples share: reading HOST:PORT, printing a flow's segments as they pass, and a
// kernel listener on 127.0.0.1 for the examples that bring their own server.
import Foundation
import PacketKit
import TCPScript

/// `text` read as HOST:PORT (a dotted quad and a port), or `nil` when it is not one.
public func endpoint(_ text: String) -> Endpoint? {
  let parts = text.split(separator: ":")
  guard parts.count == 2, let address = IPv4Address(parts[0])?.rawValue, let port = UInt16(parts[1]) else { return nil }
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

/// A kernel TCP listener on 127.0.0.1 at a port the kernel picks (backlog 1).
public struct LoopbackListener {
  public let descriptor: Int32
  public let port: UInt16

  public init() {
    descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let fd = descriptor
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length); return getsockname(fd, $0, &length) }
    }
    listen(descriptor, 1)
    port = UInt16(bigEndian: address.sin_port)
  }

  /// The next connection the kernel completed (blocks until there is one).
  public func accept() -> Int32 { Glibc.accept(descriptor, nil, nil) }
}
