// Build the SYN from the classic capture as one Swift expression, print it the way tcpdump does,
// show its fields (computed ones marked), and write it to a pcap that tcpdump and Wireshark open.
//
//   swift run example-build-syn            # writes build-syn.pcap in the current directory
//   tcpdump -nn -S -t -r build-syn.pcap    # the same line as ours
import Foundation
import PacketKit

// 127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], seq 84347051, win 65535,
//   options [mss 16344,nop,wscale 5,nop,nop,TS val 1525310591 ecr 0,sackOK,eol], length 0
let syn = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1")
  / TCPHeader(
    sourcePort: 57273, destinationPort: 8080, sequenceNumber: 84_347_051, flags: .syn, window: 65535,
    options: [.maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
              .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList])

do {
  let bytes = try syn.encoded()                                   // checksums, lengths computed
  print(tcpdumpSummary(ipv4: bytes[...]))                         // tcpdump -nn -S -t's line
  print(syn.show())                                               // field tree + hexdump

  var file: [UInt8] = []
  let pcap = PcapWriter(linkType: .raw)                           // LINKTYPE_RAW: bare IPv4
  pcap.appendFileHeader(to: &file)
  pcap.appendRecord(bytes, timestampSeconds: 1_525_310_591, to: &file)
  let path = FileManager.default.currentDirectoryPath + "/build-syn.pcap"
  try Data(file).write(to: URL(fileURLWithPath: path))
  print("wrote \(path)")
} catch {
  print("example-build-syn: \(error)")
  exit(1)
}
