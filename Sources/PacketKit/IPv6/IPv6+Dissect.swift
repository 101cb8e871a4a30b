// The dissector's IPv6 step: the fixed header, the payload length against the captured bytes,
// the extension-header chain (one layer each), fragments, and the hand-over to TCP, UDP or
// ICMPv6 (whose errors quote an IPv6 packet, dissected again). See Dissection/Dissector.swift.

extension Dissector {
  /// Dissects an IPv6 packet at `start` whose bytes end (as captured) at `end`.
  mutating func ipv6(at start: Int, end: Int, quoted: Bool, fastPathTried: Bool = false) {
    if !quoted && allowFastPath && !fastPathTried && plainTCP6(at: start, end: end) { return }
    guard has(.ipv6, needed: 40, start, end, quoted: quoted) else { return }
    let version = frame.u8(start) >> 4
    guard version == 6 else {
      invalid(.ipv6, field: "version", value: UInt64(version), start, end, quoted: quoted)
      return
    }
    let available = end - start
    let payloadLength = Int(frame.u16(start + 4))
    append(.ipv6, start, start + 40, quoted: quoted)
    // Payload length 0 is only valid with a Jumbo Payload option; it is kept visible as a
    // packet whose payload is everything captured.
    var payloadEnd = payloadLength == 0 ? end : start + 40 + payloadLength
    var complete = true
    if payloadEnd > end {
      payloadEnd = end
      complete = false
      if !quoted {
        layers.appendProblems(toLast: [.lengthExceedsData(layer: .ipv6, length: 40 + payloadLength, available: available)])
      }
    }
    let source = IPv6Address(
      high: UInt64(frame.u32(start + 8)) << 32 | UInt64(frame.u32(start + 12)),
      low: UInt64(frame.u32(start + 16)) << 32 | UInt64(frame.u32(start + 20)))
    var destination = IPv6Address(
      high: UInt64(frame.u32(start + 24)) << 32 | UInt64(frame.u32(start + 28)),
      low: UInt64(frame.u32(start + 32)) << 32 | UInt64(frame.u32(start + 36)))
    var next = frame.u8(start + 6)
    var offset = start + 40
    var headers = 0
    var upperDone = false
    while !upperDone {
      switch next {
      case 0 where headers < 64, 43 where headers < 64, 44 where headers < 64, 60 where headers < 64:
        headers += 1
        let layer = IPv6ExtensionHeaderView.layer(of: IPProtocol(next))
        // A header cut short by the payload length: a raw layer, then the trailer (below).
        guard has(layer, needed: 8, offset, payloadEnd, quoted: quoted) else {
          upperDone = true
          continue
        }
        let length = next == 44 ? 8 : (Int(frame.u8(offset + 1)) + 1) * 8
        guard has(layer, needed: length, offset, payloadEnd, quoted: quoted) else {
          upperDone = true
          continue
        }
        append(.ipv6Extension, offset, offset + length, quoted: quoted)
        if next == 43, frame.u8(offset + 3) > 0 {
          // The final destination of a Routing header with segments left (RFC 8200 §8.1).
          let type = frame.u8(offset + 2)
          let count = type == 4 ? Int(frame.u8(offset + 4)) + 1 : (length - 8) / 16
          let index = type == 4 ? 0 : count - 1
          if type == 0 || type == 2 || type == 4, count > 0, 8 + 16 * (index + 1) <= length {
            let at = offset + 8 + 16 * index
            destination = IPv6Address(
              high: UInt64(frame.u32(at)) << 32 | UInt64(frame.u32(at + 4)),
              low: UInt64(frame.u32(at + 8)) << 32 | UInt64(frame.u32(at + 12)))
          }
        }
        let header = next
        next = frame.u8(offset)
        offset += length
        if header == 44 {
          let flagsAndOffset = frame.u16(offset - 6)
          if flagsAndOffset & 0xFFF8 != 0 {
            // A non-first fragment: no upper-layer header here.
            append(.payload, offset, payloadEnd, quoted: quoted)
            upperDone = true
            continue
          }
          if flagsAndOffset & 1 != 0 { complete = false }
        }
      default:
        let context = TransportContext(
          source: 0, destination: 0, ipPayloadLength: payloadEnd - offset, complete: complete, quoted: quoted,
          source6: source, destination6: destination)
        switch next {
        case 6: tcp(at: offset, end: payloadEnd, context)
        case 17: udp(at: offset, end: payloadEnd, context)
        case 58: icmpv6(at: offset, end: payloadEnd, context)
        default: append(.payload, offset, payloadEnd, quoted: quoted)
        }
        upperDone = true
      }
    }
    if payloadEnd < end {
      if quoted {
        append(.trailer, payloadEnd, end, quoted: true)
      } else {
        let isPadding = frame.count <= 60 && layers.first?.kind != .ipv6
          && frame.slice(payloadEnd, end).allSatisfy { $0 == 0 }
        append(
          .trailer, payloadEnd, end,
          problems: isPadding ? [] : [.lengthShorterThanData(layer: .ipv6, length: 40 + payloadLength, available: available)])
      }
    }
  }

  /// The fast path for IPv6 carrying a well-formed TCP segment directly (no extension headers),
  /// whole (the payload length is exactly the bytes after the header: not truncated, no
  /// trailer), with a correct checksum when verified: the twin of IPv4's `plainTCP`, with the
  /// same guarantee (the same layers as the general path, or `false` having changed nothing).
  @inline(always)
  mutating func plainTCP6(at start: Int, end: Int) -> Bool {
    guard end &- start >= 60, frame.u8(start) >> 4 == 6 else { return false }
    guard Int(frame.u16(start &+ 4)) == end &- start &- 40, frame.u8(start &+ 6) == 6 else { return false }
    let pseudo = OnesComplement(
      inner: InternetChecksum.pseudoHeader(
        sourceAddress: IPv6Address(high: frame.u64(start &+ 8), low: frame.u64(start &+ 16)),
        destinationAddress: IPv6Address(high: frame.u64(start &+ 24), low: frame.u64(start &+ 32)),
        protocol: .tcp, length: end &- start &- 40))
    return plainTCPSegment(network: .ipv6, start: start, tcpStart: start &+ 40, end: end, pseudoHeader: pseudo)
  }

  /// The ICMPv6 step: the checksum (over the IPv6 pseudo-header), the header (with a neighbour
  /// message's target address and options), and an error's quoted packet dissected as IPv6.
  mutating func icmpv6(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    guard has(.icmpv6, needed: 8, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    if let problem = transportChecksum(layer: .icmpv6, proto: 58, context, start, end, checksumOffset: 2) {
      problems.append(problem)
    }
    let type = frame.u8(start)
    if type == 135 || type == 136 {
      append(.icmpv6, start, end, quoted: quoted, problems: problems)
      return
    }
    append(.icmpv6, start, start + 8, quoted: quoted, problems: problems)
    if type < 128 && !quoted && end - (start + 8) >= 1 {
      ipv6(at: start + 8, end: end, quoted: true)
    } else {
      append(.payload, start + 8, end, quoted: quoted)
    }
  }
}

extension ShowFields {
  /// `show()`'s fields of an IPv6 fixed header, extension header or ICMPv6 header.
  mutating func ipv6(_ kind: DissectedLayer.Kind, _ bytes: ArraySlice<UInt8>, checksumNote: String) {
    switch kind {
    case .ipv6:
      let view = IPv6View(unchecked: bytes)
      guard bytes.count >= 40 else { return }
      add("version", "\(view.version)")
      add("trafficClass", "0x\(Fmt.hex(view.trafficClass, width: 2))")
      add("flowLabel", "0x\(Fmt.hex(view.flowLabel, width: 5))")
      add("payloadLength", "\(view.payloadLength)")
      add("nextHeader", "\(view.nextHeader.rawValue)")
      add("hopLimit", "\(view.hopLimit)")
      add("source", "\(view.sourceAddress)")
      add("destination", "\(view.destinationAddress)")
    case .ipv6Extension:
      guard bytes.count >= 2 else { return }
      add("nextHeader", "\(bytes.byte(at: 0))")
      add("length", "\(bytes.count)")
      add("load", Fmt.quoted(bytes.clampedSuffix(from: 2)))
    default:
      guard bytes.count >= 8 else { return }
      let view = ICMPv6View(unchecked: bytes)
      add("type", "\(view.type.rawValue) (\(view.type))")
      add("code", "\(view.code)")
      add("checksum", "0x\(Fmt.hex(view.checksum, width: 4)) \(checksumNote)")
      add("restOfHeader", "0x\(Fmt.hex(view.restOfHeader, width: 8))")
    }
  }
}
