// RST injection: a crafted RST with the right sequence number kills a live kernel connection at
// once (RFC 9293 §3.10.7.4) — no FIN, no TIME-WAIT; the application's recv() fails with
// ECONNRESET. The RST guard drops the kernel's own RSTs but never ours: our raw socket belongs
// to the guard's exempt group.
//
//   sudo swift run example-rst-injection
import Foundation
import ExampleSupport
import RawSocket
import TCPScript

do {
  let listener = try LoopbackListener()
  let flow = try Flow.open(to: Endpoint(address: .loopback, port: listener.port))
  printSegments(of: flow)
  try flow.activeOpen()
  let connection = try listener.accept()
  try flow.send(.rst)                 // seq = SND.NXT: exactly what the kernel expects next
  var byte: [UInt8] = [0]
  print()
  do {
    let count = try byte.withUnsafeMutableBytes { raw throws(Errno) in try connection.receive(into: raw) }
    print("the server's recv() returned \(count.map(String.init) ?? "nothing"): the RST did not land")
  } catch {
    print("the server's recv() failed: \(error)")   // ECONNRESET
  }
  try? connection.close()
  flow.close()
} catch {
  print("example-rst-injection: \(error)")
  exit(1)
}
