// Active open and active close, by hand — RFC 9293 Figures 6 and 12 on your own machine.
//
//   sudo swift run example-active-open 127.0.0.1:8080
//
// Start any server first, e.g. `python3 -m http.server 8080` or `tcpcraft demo --serve --port 8080`.
// Every segment is printed as tcpdump prints it, with our state change and the server's real
// kernel state beside it.
import Foundation
import ExampleSupport
import TCPScript

let target = targetArgument(usage: "usage: example-active-open HOST:PORT")

do {
  let flow = try Flow.open(to: target)
  printSegments(of: flow, explain: true)   // with why each segment looks as it does
  try flow.activeOpen()      // SYN → SYN+ACK → ACK:   CLOSED → SYN-SENT → ESTABLISHED
  try flow.activeClose()     // FIN → ACK, FIN → ACK:   FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT
  printLadder(of: flow)
  flow.close()
} catch {
  print("example-active-open: \(error)")
  exit(1)
}
