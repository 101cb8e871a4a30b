// RST injection: a crafted RST with the right sequence number kills a live kernel connection at
// once (RFC 9293 §3.10.7.4) — no FIN, no TIME-WAIT; the application's recv() fails with
// ECONNRESET. The RST guard drops the kernel's own RSTs but never ours: our raw socket belongs
// to the guard's exempt group.
//
//   sudo swift run example-rst-injection
import Foundation
import ExampleSupport
import TCPScript

let listener = LoopbackListener()

do {
  let flow = try Flow.open(to: Endpoint(address: 0x7F00_0001, port: listener.port))
  printSegments(of: flow)
  try flow.activeOpen()
  let connection = listener.accept()
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
