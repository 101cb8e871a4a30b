// The dissector's ICMP step: the checksum, and the quoted datagram of an error message
// dissected as IPv4 again. See Dissection/Dissector.swift.

extension Dissector {
  mutating func icmp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    guard has(.icmpv4, needed: 8, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    if verifyChecksums && context.complete && !quoted {
      var sum = OnesComplement()
      sum.add(frame.slice(start, end))
      if sum.folded != 0xFFFF {
        let stored = frame.u16(start + 2)
        var without = OnesComplement()
        without.add(frame, start, end, skippingFieldAt: 2)
        problems.append(.badChecksum(layer: .icmpv4, stored: stored, correct: without.checksum))
      }
    }
    append(.icmpv4, start, start + 8, quoted: quoted, problems: problems)
    let type = frame.u8(start)
    let carriesDatagram = [3, 4, 5, 11, 12].contains(type)
    if carriesDatagram && !quoted && end - (start + 8) >= 1 {
      ipv4(at: start + 8, end: end, quoted: true)
    } else {
      append(.payload, start + 8, end, quoted: quoted)
    }
  }
}
