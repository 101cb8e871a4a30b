// A SYN carrying every TCP option PacketKit names — and one it does not — built as one readable
// expression, printed as tcpdump prints it, then (as root, with a HOST:PORT) sent to a server to
// see which options its SYN+ACK echoes back.
//
//   swift run example-syn-every-option                    # build and print only
//   sudo swift run example-syn-every-option 127.0.0.1:8080
import Foundation
import PacketKit
import ExampleSupport
import TCPScript

let options: [TCPOption] = [
  .maximumSegmentSize(1460),                                // kind 2  (RFC 9293)
  .sackPermitted,                                           // kind 4  (RFC 2018)
  .timestamps(value: 1_525_310_591, echoReply: 0),          // kind 8  (RFC 7323)
  .noOperation,                                             // kind 1, padding
  .windowScale(7),                                          // kind 3  (RFC 7323)
  .unknown(kind: 254, data: [0xF9, 0x89]),                  // kind 254: an experiment (RFC 6994)
  .endOfOptionList,                                         // kind 0
]

let syn = IPv4Header(sourceAddress: IPv4Address(127, 0, 0, 1), destinationAddress: IPv4Address(127, 0, 0, 1))
  / TCPHeader(sourcePort: 57273, destinationPort: 8080, sequenceNumber: 84_347_051, flags: .syn, options: options)
do {
  let bytes = try syn.encoded()
  print(tcpdumpSummary(ipv4: bytes[...]))
  print(hexdump(bytes))
} catch {
  print("example-syn-every-option: \(error)")
  exit(1)
}

if CommandLine.arguments.count > 1 {
  let target = targetArgument(usage: "usage: example-syn-every-option [HOST:PORT]")
  do {
    let flow = try Flow.open(to: target)
    flow.onEntry = { print($0.direction == .sent ? "out" : "in ", $0.summary) }
    try flow.send(.syn, options: options)
    try flow.expect(.synAcknowledging(flow.sendNext))
    try flow.abort()   // we only wanted to see the SYN+ACK
    flow.close()
  } catch {
    print("example-syn-every-option: \(error)")
    exit(1)
  }
}
