// Simultaneous close (RFC 9293 Figure 13): both sides send FIN before seeing the other's, both
// pass through CLOSING, both end in TIME-WAIT. We start a kernel listener here whose application
// closes right after accept(), and send our FIN before reading the kernel's.
//
//   sudo swift run example-simultaneous-close
import Foundation
import TCPScript

// A kernel listener on 127.0.0.1 (ephemeral port).
let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
var address = sockaddr_in()
address.sin_family = sa_family_t(AF_INET)
address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
var length = socklen_t(MemoryLayout<sockaddr_in>.size)
_ = withUnsafeMutablePointer(to: &address) {
  $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length); return getsockname(listener, $0, &length) }
}
listen(listener, 1)
let port = UInt16(bigEndian: address.sin_port)

do {
  let flow = try Flow.open(to: Endpoint(address: 0x7F00_0001, port: port))
  flow.onEntry = { entry in
    print(entry.direction == .sent ? "out" : "in ", entry.summary, " [\(entry.stateChange) | peer \(entry.peerState ?? "?")]")
  }
  try flow.activeOpen()
  let connection = accept(listener, nil, nil)   // the handshake is complete: accept returns at once
  close(connection)                              // the kernel sends its FIN (it is in FIN-WAIT-1)...
  usleep(20_000)
  try flow.simultaneousClose()                   // ...and ours crosses it: FIN-WAIT-1 → CLOSING → TIME-WAIT
  print()
  print(Ladder.draw(flow.transcript.entries, local: flow.local.description, remote: flow.remote.description))
  flow.close()
} catch {
  print("example-simultaneous-close: \(error)")
  exit(1)
}
