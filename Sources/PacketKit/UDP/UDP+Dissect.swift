// The dissector's UDP step: the length field against the IPv4 payload, the checksum. See
// Dissection/Dissector.swift.

extension Dissector {
  mutating func udp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    guard has(.udp, needed: UDPLayout.headerLength, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    let udpLength = frame.udpLength(at: start)
    var payloadEnd = end
    if !quoted {
      if udpLength < UDPLayout.headerLength {
        problems.append(.invalidField(layer: .udp, field: "length", value: UInt64(udpLength)))
      } else if udpLength > context.ipPayloadLength {
        problems.append(.lengthExceedsData(layer: .udp, length: udpLength, available: context.ipPayloadLength))
      } else if udpLength < context.ipPayloadLength {
        problems.append(.lengthShorterThanData(layer: .udp, length: udpLength, available: context.ipPayloadLength))
        payloadEnd = min(end, start + udpLength)
      }
      if udpLength >= UDPLayout.headerLength && udpLength <= context.ipPayloadLength,
        let problem = transportChecksum(
          layer: .udp, proto: 17, context, start, min(end, start + udpLength), checksumOffset: UDPLayout.checksum)
      {
        problems.append(problem)
      }
    }
    append(.udp, start, start + UDPLayout.headerLength, quoted: quoted, problems: problems)
    append(.payload, start + UDPLayout.headerLength, payloadEnd, quoted: quoted)
    append(.trailer, payloadEnd, end, quoted: quoted)
  }
}
