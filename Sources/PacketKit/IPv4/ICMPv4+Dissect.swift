// The dissector's ICMP step: the checksum, and the quoted datagram of an error message
// dissected as IPv4 again. See Dissection/Dissector.swift.

extension Dissector {
  mutating func icmp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    guard has(.icmpv4, needed: ICMPv4Layout.headerLength, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    if verifyChecksums && context.complete && !quoted {
      var sum = OnesComplement()
      sum.add(frame.slice(start, end))
      if sum.folded != 0xFFFF {
        let stored = frame.u16(start + ICMPv4Layout.checksum)
        var without = OnesComplement()
        without.add(frame, start, end, skippingFieldAt: ICMPv4Layout.checksum)
        problems.append(.badChecksum(layer: .icmpv4, stored: stored, correct: without.checksum))
      }
    }
    append(.icmpv4, start, start + ICMPv4Layout.headerLength, quoted: quoted, problems: problems)
    let type = ICMPv4Type(frame.u8(start + ICMPv4Layout.type))
    let quotedStart = start + ICMPv4Layout.quotedDatagram
    if type.quotesDatagram && !quoted && end - quotedStart >= 1 {
      ipv4(at: quotedStart, end: end, quoted: true)
    } else {
      append(.payload, start + ICMPv4Layout.headerLength, end, quoted: quoted)
    }
  }
}
