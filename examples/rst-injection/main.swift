// RST injection: a crafted RST with the right sequence number kills a live kernel connection at
// once (RFC 9293 §3.10.7.4) — no FIN, no TIME-WAIT; the application's recv() fails with
// ECONNRESET. The RST guard drops the kernel's own RSTs but never ours: our raw socket belongs
// to the guard's exempt group.
//
//   sudo swift run example-rst-injection
import Foundation
import TCPScript

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
  let connection = accept(listener, nil, nil)
  try flow.send(.rst)                 // seq = SND.NXT: exactly what the kernel expects next
  var byte: UInt8 = 0
  let result = recv(connection, &byte, 1, 0)
  print()
  print("the server's recv() returned \(result): \(String(cString: strerror(errno)))")   // ECONNRESET
  flow.close()
} catch {
  print("example-rst-injection: \(error)")
  exit(1)
}
