// The dissector's IPv6 step: the fixed header, the payload length against the captured bytes,
// the extension-header chain (one layer each), fragments, and the hand-over to TCP, UDP or
// ICMPv6 (whose errors quote an IPv6 packet, dissected again). See Dissection/Dissector.swift.

extension Dissector {
  /// Dissects an IPv6 packet at `start` whose bytes end (as captured) at `end`.
  mutating func ipv6(at start: Int, end: Int, quoted: Bool, fastPathTried: Bool = false) {
    if !quoted && allowFastPath && !fastPathTried && plainTCP6(at: start, end: end) { return }
    guard has(.ipv6, needed: IPv6Layout.headerLength, start, end, quoted: quoted) else { return }
    let version = frame.ipVersion(at: start)
    guard version == 6 else {
      invalid(.ipv6, field: "version", value: UInt64(version), start, end, quoted: quoted)
      return
    }
    let available = end - start
    let payloadLength = frame.ipv6PayloadLength(at: start)
    let packetLength = IPv6Layout.headerLength + payloadLength
    append(.ipv6, start, start + IPv6Layout.headerLength, quoted: quoted)
    // Payload length 0 is only valid with a Jumbo Payload option; it is kept visible as a
    // packet whose payload is everything captured.
    var payloadEnd = payloadLength == 0 ? end : start + IPv6Layout.headerLength + payloadLength
    var complete = true
    if payloadEnd > end {
      payloadEnd = end
      complete = false
      if !quoted {
        layers.appendProblems(toLast: [.lengthExceedsData(layer: .ipv6, length: packetLength, available: available)])
      }
    }
    let source = frame.ipv6Source(at: start)
    var destination = frame.ipv6Destination(at: start)
    var next = frame.ipv6NextHeader(at: start)
    var offset = start + IPv6Layout.headerLength
    var headers = 0
    var upperDone = false
    while !upperDone {
      switch next {
      case 0 where headers < 64, 43 where headers < 64, 44 where headers < 64, 60 where headers < 64:
        headers += 1
        let layer = IPv6ExtensionHeaderView.layer(of: IPProtocol(next))
        // A header cut short by the payload length: a raw layer, then the trailer (below).
        guard has(layer, needed: IPv6ExtensionLayout.minimumLength, offset, payloadEnd, quoted: quoted) else {
          upperDone = true
          continue
        }
        let length = next == 44 ? IPv6ExtensionLayout.fragmentHeaderLength : frame.ipv6ExtensionHeaderLength(at: offset)
        guard has(layer, needed: length, offset, payloadEnd, quoted: quoted) else {
          upperDone = true
          continue
        }
        append(.ipv6Extension, offset, offset + length, quoted: quoted)
        if next == 43, frame.u8(offset + IPv6ExtensionLayout.segmentsLeft) > 0 {
          // The final destination of a Routing header with segments left (RFC 8200 §8.1).
          let type = frame.u8(offset + IPv6ExtensionLayout.routingType)
          let addressesLength = length - IPv6ExtensionLayout.routingAddresses
          let count = type == 4
            ? Int(frame.u8(offset + IPv6ExtensionLayout.lastEntry)) + 1 : addressesLength / IPv6Layout.addressLength
          let index = type == 4 ? 0 : count - 1
          if type == 0 || type == 2 || type == 4, count > 0,
            IPv6Layout.addressLength * (index + 1) <= addressesLength
          {
            let addresses = offset + IPv6ExtensionLayout.routingAddresses
            destination = frame.ipv6Address(at: addresses + IPv6Layout.addressLength * index)
          }
        }
        let header = next
        let headerStart = offset
        next = frame.u8(offset + IPv6ExtensionLayout.nextHeader)
        offset += length
        if header == 44 {
          let flagsAndOffset = frame.u16(headerStart + IPv6ExtensionLayout.fragmentOffsetAndFlags)
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
          problems: isPadding ? [] : [.lengthShorterThanData(layer: .ipv6, length: packetLength, available: available)])
      }
    }
  }

  /// The fast path for IPv6 carrying a well-formed TCP segment directly (no extension headers),
  /// whole (the payload length is exactly the bytes after the header: not truncated, no
  /// trailer), with a correct checksum when verified: the twin of IPv4's `plainTCP`, with the
  /// same guarantee (the same layers as the general path, or `false` having changed nothing).
  @inline(always)
  mutating func plainTCP6(at start: Int, end: Int) -> Bool {
    guard end &- start >= IPv6Layout.headerLength &+ TCPLayout.minimumHeaderLength else { return false }
    guard frame.ipVersion(at: start) == 6 else { return false }
    let tcpStart = start &+ IPv6Layout.headerLength
    guard frame.ipv6PayloadLength(at: start) == end &- tcpStart, frame.ipv6NextHeader(at: start) == 6 else {
      return false
    }
    let pseudo = OnesComplement(
      inner: InternetChecksum.pseudoHeader(
        sourceAddress: frame.ipv6Source(at: start), destinationAddress: frame.ipv6Destination(at: start),
        protocol: .tcp, length: end &- tcpStart))
    return plainTCPSegment(network: .ipv6, start: start, tcpStart: tcpStart, end: end, pseudoHeader: pseudo)
  }

  /// The ICMPv6 step: the checksum (over the IPv6 pseudo-header), the header (with a neighbour
  /// message's target address and options), and an error's quoted packet dissected as IPv6.
  mutating func icmpv6(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    guard has(.icmpv6, needed: ICMPv6Layout.headerLength, start, end, quoted: quoted) else { return }
    var problems: [DissectionProblem] = []
    if let problem = transportChecksum(
      layer: .icmpv6, proto: 58, context, start, end, checksumOffset: ICMPv6Layout.checksum)
    {
      problems.append(problem)
    }
    let type = ICMPv6Type(frame.u8(start + ICMPv6Layout.type))
    if type.hasTargetAddress {
      append(.icmpv6, start, end, quoted: quoted, problems: problems)
      return
    }
    append(.icmpv6, start, start + ICMPv6Layout.headerLength, quoted: quoted, problems: problems)
    let quotedStart = start + ICMPv6Layout.quotedPacket
    if type.quotesPacket && !quoted && end - quotedStart >= 1 {
      ipv6(at: quotedStart, end: end, quoted: true)
    } else {
      append(.payload, start + ICMPv6Layout.headerLength, end, quoted: quoted)
    }
  }
}

extension ShowFields {
  /// `show()`'s fields of an IPv6 fixed header, extension header or ICMPv6 header.
  mutating func ipv6(_ kind: DissectedLayer.Kind, _ bytes: ArraySlice<UInt8>, checksumNote: String) {
    switch kind {
    case .ipv6:
      let view = IPv6View(unchecked: bytes)
      guard bytes.count >= IPv6Layout.headerLength else { return }
      add("version", "\(view.version)")
      add("trafficClass", "0x\(Fmt.hex(view.trafficClass, width: 2))")
      add("flowLabel", "0x\(Fmt.hex(view.flowLabel, width: 5))")
      add("payloadLength", "\(view.payloadLength)")
      add("nextHeader", "\(view.nextHeader.rawValue)")
      add("hopLimit", "\(view.hopLimit)")
      add("source", "\(view.sourceAddress)")
      add("destination", "\(view.destinationAddress)")
    case .ipv6Extension:
      guard bytes.count >= IPv6ExtensionLayout.data else { return }
      add("nextHeader", "\(bytes.byte(at: IPv6ExtensionLayout.nextHeader))")
      add("length", "\(bytes.count)")
      add("load", Fmt.quoted(bytes.clampedSuffix(from: IPv6ExtensionLayout.data)))
    default:
      guard bytes.count >= ICMPv6Layout.headerLength else { return }
      let view = ICMPv6View(unchecked: bytes)
      add("type", "\(view.type.rawValue) (\(view.type))")
      add("code", "\(view.code)")
      add("checksum", "0x\(Fmt.hex(view.checksum, width: 4)) \(checksumNote)")
      add("restOfHeader", "0x\(Fmt.hex(view.restOfHeader, width: 8))")
    }
  }
}
