// The dissector's TCP step: data offset checks, option structure, the checksum. See
// Dissection/Dissector.swift.

extension Dissector {
  mutating func tcp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    let length = end - start
    guard has(.tcp, needed: TCPLayout.minimumHeaderLength, start, end, quoted: quoted) else { return }
    let headerLength = frame.tcpHeaderLength(at: start)
    guard headerLength >= TCPLayout.minimumHeaderLength else {
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
    optionProblems(layer: .tcp, start + TCPLayout.options, start + headerLength, into: &problems)
    if let problem = transportChecksum(layer: .tcp, proto: 6, context, start, end, checksumOffset: TCPLayout.checksum) {
      problems.append(problem)
    }
    append(.tcp, start, start + headerLength, quoted: quoted, problems: problems)
    append(.payload, start + headerLength, end, quoted: quoted)
  }

  /// The TCP half of the fast paths (`plainTCP` for IPv4, `plainTCP6` for IPv6): a well-formed
  /// TCP segment from `tcpStart` to `end` with well-formed options and a correct checksum (when
  /// verified) after a network header at `start` the caller has checked. Appends the network
  /// layer, TCP and (when not empty) the payload in one step and returns `true`; else changes
  /// nothing and returns `false`. The same checks as `tcp(at:end:_:)`, each of which appends
  /// only when something is wrong.
  ///
  /// The checksum sums `addressStart..<end` in one pass, the network header's two addresses
  /// with the segment (in both IPv4 and IPv6 they end where TCP starts), plus
  /// `pseudoHeaderRest`: the pseudo-header's length and protocol. Loading the addresses as
  /// integers and summing them apart cost the IPv6 row ~2 ns (four 8-byte loads, byte swaps).
  @inline(always)  // SE-0496: with two callers, a mere hint is declined (measured: 44 → 60 ns)
  mutating func plainTCPSegment(
    network: DissectedLayer.Kind, start: Int, addressStart: Int, tcpStart: Int, end: Int,
    pseudoHeaderRest: OnesComplement
  ) -> Bool {
    let tcpHeaderLength = frame.tcpHeaderLength(at: tcpStart)
    guard tcpHeaderLength >= TCPLayout.minimumHeaderLength, tcpHeaderLength <= end &- tcpStart else { return false }
    var problems: [DissectionProblem] = []
    optionProblems(layer: .tcp, tcpStart &+ TCPLayout.options, tcpStart &+ tcpHeaderLength, into: &problems)
    guard problems.isEmpty else { return false }
    if verifyChecksums {
      var segment = pseudoHeaderRest
      segment.add(frame.slice(addressStart, end))
      guard segment.folded == 0xFFFF else { return false }
    }
    let tcpEnd = tcpStart &+ tcpHeaderLength
    // The three layers' tag bytes and 16-bit ends in one step (`network` is a constant at each
    // call site, so the tags fold to a constant).
    let withPayload = tcpEnd < end
    let compactTags = DissectedLayers.compactTag(network) | DissectedLayers.compactTag(.tcp) << 8
      | (withPayload ? DissectedLayers.compactTag(.payload) << 16 : 0)
    let compactEnds = UInt64(truncatingIfNeeded: tcpStart) | UInt64(truncatingIfNeeded: tcpEnd) << 16
      | (withPayload ? UInt64(truncatingIfNeeded: end) << 32 : 0)
    if !layers.appendCompact(tags: compactTags, ends: compactEnds, added: withPayload ? 3 : 2, start: start, lastEnd: end) {
      layers.append(network, start..<tcpStart, isQuoted: false)
      layers.append(.tcp, tcpStart..<tcpEnd, isQuoted: false)
      if withPayload { layers.append(.payload, tcpEnd..<end, isQuoted: false) }
    }
    return true
  }
}
