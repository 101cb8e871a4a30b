// Passive close: the server closes first (an HTTP/1.0 server does, after its reply), so we go
// ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED, as RFC 9293 §3.6 describes.
//
//   python3 -m http.server 8080 &
//   sudo swift run example-passive-close 127.0.0.1:8080
import Foundation
import ExampleSupport
import TCPScript

let target = targetArgument(usage: "usage: example-passive-close HOST:PORT   (an HTTP server)")

do {
  let flow = try Flow.open(to: target)
  printSegments(of: flow)
  try flow.activeOpen()
  try flow.sendData(Array("GET / HTTP/1.0\r\n\r\n".utf8))   // the server answers, then closes
  try flow.passiveClose()    // its FIN → our ACK (CLOSE-WAIT), our FIN (LAST-ACK) → its ACK (CLOSED)
  print()
  print("received \(flow.receivedData.count) bytes; we end in \(flow.state)")
  print(Ladder.draw(flow.transcript.entries, local: flow.local.description, remote: flow.remote.description))
  flow.close()
} catch {
  print("example-passive-close: \(error)")
  exit(1)
}
