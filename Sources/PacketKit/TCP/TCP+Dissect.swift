// The dissector's TCP step: data offset checks, option structure, the checksum. See
// Dissection/Dissector.swift.

extension Dissector {
  mutating func tcp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    let length = end - start
    guard has(.tcp, needed: 20, start, end, quoted: quoted) else { return }
    let headerLength = Int(frame.u8(start + 12) >> 4) * 4
    guard headerLength >= 20 else {
      invalid(.tcp, field: "dataOffset", noted: "data offset", value: UInt64(headerLength / 4), start, end, quoted: quoted)
      return
    }
    guard headerLength <= length else {
      var problems: [DissectionProblem] = []
      if headerLength > context.ipPayloadLength {
        problems.append(.dataOffsetBeyondSegment(headerLength: headerLength, segmentLength: context.ipPayloadLength))
      } else {
        problems.append(.truncated(layer: .tcp, needed: headerLength, available: length))
      }
      raw(.tcp, .truncated(layer: .tcp, needed: headerLength, available: length), start, end,
          quoted: quoted, problems: problems)
      return
    }
    var problems: [DissectionProblem] = []
    optionProblems(layer: .tcp, start + 20, start + headerLength, into: &problems)
    if let problem = transportChecksum(layer: .tcp, proto: 6, context, start, end, checksumOffset: 16) {
      problems.append(problem)
    }
    append(.tcp, start, start + headerLength, quoted: quoted, problems: problems)
    append(.payload, start + headerLength, end, quoted: quoted)
  }
}
