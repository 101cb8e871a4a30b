// Active open and active close, by hand — RFC 9293 Figures 6 and 12 on your own machine.
//
//   sudo swift run example-active-open 127.0.0.1:8080
//
// Start any server first, e.g. `python3 -m http.server 8080` or `tcpcraft demo --serve --port 8080`.
// Every segment is printed as tcpdump prints it, with our state change and the server's real
// kernel state beside it.
import Foundation
import PacketKit
import TCPScript

let target = CommandLine.arguments.dropFirst().first ?? "127.0.0.1:8080"
let parts = target.split(separator: ":")
guard parts.count == 2, let address = IPv4Address(parts[0])?.rawValue, let port = UInt16(parts[1]) else {
  print("usage: example-active-open HOST:PORT")
  exit(2)
}

do {
  let flow = try Flow.open(to: Endpoint(address: address, port: port))
  flow.onEntry = { [unowned flow] entry in
    print(entry.direction == .sent ? "out" : "in ", entry.summary, " [\(entry.stateChange) | peer \(entry.peerState ?? "?")]")
    let transcript = flow.transcript
    if let why = Explainer.explain(entry, ourISS: transcript.initialSendSequence, peerIRS: transcript.initialReceiveSequence) {
      print("    ↳", why)
    }
  }
  try flow.activeOpen()      // SYN → SYN+ACK → ACK:   CLOSED → SYN-SENT → ESTABLISHED
  try flow.activeClose()     // FIN → ACK, FIN → ACK:   FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT
  print()
  print(Ladder.draw(flow.transcript.entries, local: flow.local.description, remote: flow.remote.description))
  flow.close()
} catch {
  print("example-active-open: \(error)")
  exit(1)
}
