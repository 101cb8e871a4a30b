// The dissector's UDP step: the length field against the IPv4 payload, the checksum. See
// Dissection/Dissector.swift.

extension Dissector {
  mutating func udp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    guard has(.udp, needed: 8, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    let udpLength = Int(frame.u16(start + 4))
    var payloadEnd = end
    if !quoted {
      if udpLength < 8 {
        problems.append(.invalidField(layer: .udp, field: "length", value: UInt64(udpLength)))
      } else if udpLength > context.ipPayloadLength {
        problems.append(.lengthExceedsData(layer: .udp, length: udpLength, available: context.ipPayloadLength))
      } else if udpLength < context.ipPayloadLength {
        problems.append(.lengthShorterThanData(layer: .udp, length: udpLength, available: context.ipPayloadLength))
        payloadEnd = min(end, start + udpLength)
      }
      if udpLength >= 8 && udpLength <= context.ipPayloadLength,
        let problem = transportChecksum(
          layer: .udp, proto: 17, context, start, min(end, start + udpLength), checksumOffset: 6)
      {
        problems.append(problem)
      }
    }
    append(.udp, start, start + 8, quoted: quoted, problems: problems)
    append(.payload, start + 8, payloadEnd, quoted: quoted)
    append(.trailer, payloadEnd, end, quoted: quoted)
  }
}
