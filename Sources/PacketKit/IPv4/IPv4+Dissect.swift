// The dissector's IPv4 step: header checks as problems, the checksum, the total length against
// the captured bytes, fragments, the hand-over to TCP, UDP or ICMP, trailers; and the fast path
// for a plain TCP/IPv4 frame. See Dissection/Dissector.swift.

extension Dissector {
  /// Dissects an IPv4 packet at `start` whose bytes end (as captured) at `end`.
  mutating func ipv4(at start: Int, end: Int, quoted: Bool, fastPathTried: Bool = false) {
    if !quoted && allowFastPath && !fastPathTried && plainTCP(at: start, end: end) { return }
    let available = end - start
    guard has(.ipv4, needed: IPv4Layout.minimumHeaderLength, start, end, quoted: quoted) else { return }
    let version = frame.ipVersion(at: start)
    guard version == 4 else {
      invalid(.ipv4, field: "version", value: UInt64(version), start, end, quoted: quoted)
      return
    }
    let headerLength = frame.ipv4HeaderLength(at: start)
    guard headerLength >= IPv4Layout.minimumHeaderLength else {
      invalid(.ipv4, field: "ihl", value: UInt64(headerLength / 4), start, end, quoted: quoted)
      return
    }
    guard has(.ipv4, needed: headerLength, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    let totalLength = frame.ipv4TotalLength(at: start)
    // Header checksum (quoted headers are not checked: routers may have changed them).
    if verifyChecksums && !quoted {
      if !isHeaderChecksumValid(start, start + headerLength) {
        let stored = frame.u16(start + IPv4Layout.checksum)
        var zeroed = OnesComplement()
        zeroed.add(frame, start, start + headerLength, skippingFieldAt: IPv4Layout.checksum)
        let correct = zeroed.checksum
        problems.append(.badChecksum(layer: .ipv4, stored: stored, correct: correct))
      }
    }
    optionProblems(layer: .ipv4, start + IPv4Layout.options, start + headerLength, into: &problems)
    append(.ipv4, start, start + headerLength, quoted: quoted, problems: problems)

    guard totalLength >= headerLength else {
      raw(.ipv4, .invalidField(layer: .ipv4, field: "totalLength", value: UInt64(totalLength)),
          start + headerLength, end, quoted: quoted,
          problems: [.invalidField(layer: .ipv4, field: "total length", value: UInt64(totalLength))])
      return
    }
    var payloadEnd = start + totalLength
    if totalLength > available {
      payloadEnd = end
      if !quoted {
        layers.appendProblems(toLast: [.lengthExceedsData(layer: .ipv4, length: totalLength, available: available)])
      }
    }
    let flagsAndOffset = frame.ipv4FlagsAndOffset(at: start)
    let fragmentOffset = flagsAndOffset & 0x1FFF
    let moreFragments = flagsAndOffset & 0x2000 != 0
    let proto = frame.ipv4Protocol(at: start)
    let payloadStart = start + headerLength
    let complete = totalLength <= available && !moreFragments
    if fragmentOffset != 0 {
      append(.payload, payloadStart, payloadEnd, quoted: quoted)
    } else {
      let source = frame.u32(start + IPv4Layout.sourceAddress)
      let destination = frame.u32(start + IPv4Layout.destinationAddress)
      let transportLength = totalLength - headerLength
      let context = TransportContext(
        source: source, destination: destination, ipPayloadLength: transportLength,
        complete: complete, quoted: quoted)
      switch proto {
      case 6: tcp(at: payloadStart, end: payloadEnd, context)
      case 17: udp(at: payloadStart, end: payloadEnd, context)
      case 1: icmp(at: payloadStart, end: payloadEnd, context)
      default: append(.payload, payloadStart, payloadEnd, quoted: quoted)
      }
    }
    if payloadEnd < end {
      if quoted {
        append(.trailer, payloadEnd, end, quoted: true)
      } else {
        // Up to a minimum Ethernet frame (60 bytes) of trailer is ordinary padding.
        let isPadding = frame.count <= 60 && layers.first?.kind != .ipv4
          && frame.slice(payloadEnd, end).allSatisfy { $0 == 0 }
        append(
          .trailer, payloadEnd, end,
          problems: isPadding
            ? [] : [.lengthShorterThanData(layer: .ipv4, length: totalLength, available: available)])
      }
    }
  }

  /// The fast path for the most common frame of all, a well-formed unfragmented IPv4 packet
  /// without IPv4 options carrying a well-formed TCP segment, with correct checksums (when
  /// verified) and nothing after it: appends its layers and returns `true`. Anything else
  /// returns `false` having changed nothing, and the general path (`ipv4` onwards) takes the
  /// frame. The result is the same either way (tests compare the two on every fixture, every
  /// truncation and fuzzed frames): this only skips the bookkeeping for problems that are not there.
  @inline(always)
  mutating func plainTCP(at start: Int, end: Int) -> Bool {
    guard end &- start >= IPv4Layout.minimumHeaderLength &+ TCPLayout.minimumHeaderLength,
      frame.u8(start &+ IPv4Layout.versionAndIHL) == 0x45  // version 4, no options
    else { return false }
    let totalLength = frame.ipv4TotalLength(at: start)
    let flagsAndOffset = frame.ipv4FlagsAndOffset(at: start)
    // Whole (no trailer, not truncated), not a fragment (MF clear, offset 0), TCP.
    guard totalLength == end &- start, flagsAndOffset & 0x3FFF == 0, frame.ipv4Protocol(at: start) == 6 else {
      return false
    }
    let tcpStart = start &+ IPv4Layout.minimumHeaderLength
    if verifyChecksums { guard isHeaderChecksumValid(start, tcpStart) else { return false } }
    let pseudo = pseudoHeader(
      frame.u32(start &+ IPv4Layout.sourceAddress), frame.u32(start &+ IPv4Layout.destinationAddress),
      protocol: 6, length: end &- tcpStart)
    return plainTCPSegment(network: .ipv4, start: start, tcpStart: tcpStart, end: end, pseudoHeader: pseudo)
  }

  /// Whether the IPv4 header at `start..<end` sums to 0 (its checksum verifies).
  @inline(__always) func isHeaderChecksumValid(_ start: Int, _ end: Int) -> Bool {
    var sum = OnesComplement()
    sum.add(frame.slice(start, end))
    return sum.folded == 0xFFFF
  }
}
