// Simultaneous close (RFC 9293 Figure 13): both sides send FIN before seeing the other's, both
// pass through CLOSING, both end in TIME-WAIT. We start a kernel listener here whose application
// closes right after accept(), and send our FIN before reading the kernel's.
//
//   sudo swift run example-simultaneous-close
import Foundation
import ExampleSupport
import RawSocket
import TCPScript

do {
  let listener = try LoopbackListener()          // a kernel listener on 127.0.0.1 (ephemeral port)
  let flow = try Flow.open(to: Endpoint(address: .loopback, port: listener.port))
  printSegments(of: flow)
  try flow.activeOpen()
  let connection = try listener.accept()         // the handshake is complete: accept returns at once
  try connection.close()                         // the kernel sends its FIN (it is in FIN-WAIT-1)...
  SystemSleep.sleep(for: .milliseconds(20))
  try flow.simultaneousClose()                   // ...and ours crosses it: FIN-WAIT-1 → CLOSING → TIME-WAIT
  printLadder(of: flow)
  flow.close()
} catch {
  print("example-simultaneous-close: \(error)")
  exit(1)
}
