/// Dissects one captured frame, from its link-layer header down through IPv4 to TCP, UDP or
/// ICMPv4 (and an ICMP error's quoted datagram).
///
/// Never throws and never traps, whatever the bytes. Never loses bytes: the layers tile the
/// frame, and what cannot be parsed is a `.raw` layer with the reason. Problems (bad checksums
/// with the correct value, truncation, a data offset beyond the segment, option lengths that
/// overrun, an IPv4 total length longer or shorter than the data, ...) are reported as data in
/// `Dissection.problems`. TCP, UDP and ICMP are not parsed in non-first fragments, and
/// checksums of first fragments are not verified (the rest of the datagram is elsewhere).
///
/// - Parameters:
///   - bytes: the frame, as captured (any slice; offsets in the result are zero-based).
///   - linkType: what the frame starts with.
///   - options: e.g. `checksumNotReady` for kernel segments captured before checksumming.
@inlinable
public func dissect(
  _ bytes: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions = DissectionOptions()
) -> Dissection {
  // Inlinable over the out-of-line walk (`dissectLayers`): the result is built where the caller
  // keeps it, instead of being copied out of the callee (measured: 48 → 43 ns for a SYN).
  Dissection(
    bytes: bytes, linkType: linkType, options: options,
    layers: dissectLayers(bytes, linkType: linkType, options: options, allowFastPath: true))
}

/// The layers of `dissect`, with the fast path for plain TCP/IPv4 frames allowed or not (the
/// result is the same; tests compare both).
@usableFromInline
func dissectLayers(
  _ bytes: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions, allowFastPath: Bool
) -> DissectedLayers {
  // One pass over the frame's memory: reads and checksums go through a raw buffer (no slices,
  // no reference counting per read); the layers are kept inline unless some layer has a problem.
  bytes.withUnsafeBytes { raw in
    var dissector = Dissector(frame: ByteCursor(raw), options: options, allowFastPath: allowFastPath)
    dissector.run(linkType: linkType)
    return dissector.layers
  }
}

/// `dissect`, with the fast path allowed or not (for tests comparing both paths).
func dissect(
  _ bytes: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions, allowFastPath: Bool
) -> Dissection {
  Dissection(
    bytes: bytes, linkType: linkType, options: options,
    layers: dissectLayers(bytes, linkType: linkType, options: options, allowFastPath: allowFastPath))
}

/// Dissects a frame held in an array. See `dissect(_:linkType:options:)`.
public func dissect(
  _ bytes: [UInt8], linkType: LinkType, options: DissectionOptions = DissectionOptions()
) -> Dissection {
  dissect(bytes[...], linkType: linkType, options: options)
}

/// The dissector's checksum arithmetic over `InternetChecksum` (SIMD for long inputs).
struct OnesComplement {
  var inner = InternetChecksum()
  @inline(__always) mutating func add(_ bytes: UnsafeRawBufferPointer) { inner.add(bytes) }
  /// Adds `start..<end` of `frame` leaving out the 16-bit field at `field` (an even offset from
  /// `start`): the sum the sender had before filling the checksum in.
  mutating func add(_ frame: ByteCursor, _ start: Int, _ end: Int, skippingFieldAt field: Int) {
    inner.add(frame.slice(start, start + field))
    inner.add(zeros: 2)
    inner.add(frame.slice(start + field + 2, end))
  }
  /// The folded sum (not complemented).
  var folded: UInt16 { ~inner.finalized }
  /// The checksum: the complement of the folded sum.
  var checksum: UInt16 { inner.finalized }
}

struct Dissector {
  let frame: ByteCursor
  let verifyChecksums: Bool
  let checksumNotReady: Bool
  /// Whether `plainTCP` may take common frames (tests turn it off to compare both paths).
  let allowFastPath: Bool
  var layers = DissectedLayers()

  init(frame: ByteCursor, options: DissectionOptions, allowFastPath: Bool = true) {
    self.frame = frame
    self.allowFastPath = allowFastPath
    self.verifyChecksums = options.verifyChecksums
    self.checksumNotReady = options.checksumNotReady
  }

  mutating func append(
    _ kind: DissectedLayer.Kind, _ start: Int, _ end: Int, quoted: Bool = false,
    problems: [DissectionProblem] = []
  ) {
    guard end > start || kind == .tcp || kind == .udp || kind == .icmpv4 else { return }
    if quoted || problems.isEmpty {
      layers.append(kind, start..<end, isQuoted: quoted)
    } else {
      layers.append(DissectedLayer(kind: kind, range: start..<end, isQuoted: quoted, problems: problems))
    }
  }

  mutating func raw(
    _ expected: ProtocolLayer?, _ reason: PacketError, _ start: Int, _ end: Int,
    quoted: Bool = false, problems: [DissectionProblem] = []
  ) {
    guard end > start else {
      // Nothing left to hold the reason: attach it to the previous layer.
      if !quoted { layers.appendProblems(toLast: problems) }
      return
    }
    append(.raw(expected: expected, reason: reason), start, end, quoted: quoted, problems: problems)
  }

  mutating func run(linkType: LinkType) {
    let end = frame.count
    switch linkType {
    case .ethernet:
      guard end >= 14 else {
        let error = PacketError.truncated(layer: .ethernet, needed: 14, available: end)
        raw(.ethernet, error, 0, end, problems: [.truncated(layer: .ethernet, needed: 14, available: end)])
        return
      }
      append(.ethernet, 0, 14)
      var etherType = frame.u16(12)
      var start = 14
      while Self.isVLAN(etherType) {
        guard end >= start + 4 else {
          let available = end - start
          raw(.ethernet, .truncated(layer: .ethernet, needed: 4, available: available), start, end,
              problems: [.truncated(layer: .ethernet, needed: 4, available: available)])
          return
        }
        append(.vlan, start, start + 4)
        etherType = frame.u16(start + 2)
        start += 4
      }
      network(etherType: etherType, at: start)
    case .linuxSLL, .linuxSLL2:
      let length = linkType == .linuxSLL ? 16 : 20
      guard end >= length else {
        let error = PacketError.truncated(layer: .linuxSLL, needed: length, available: end)
        raw(.linuxSLL, error, 0, end, problems: [.truncated(layer: .linuxSLL, needed: length, available: end)])
        return
      }
      append(.linuxSLL, 0, length)
      network(etherType: linkType == .linuxSLL ? frame.u16(14) : frame.u16(0), at: length)
    case .null:
      guard end >= 4 else {
        let error = PacketError.truncated(layer: .payload, needed: 4, available: end)
        raw(nil, error, 0, end, problems: [.truncated(layer: .payload, needed: 4, available: end)])
        return
      }
      append(.null, 0, 4)
      let family = NullLinkView.family(frame.u32(0))
      if family == 2 {
        ipv4(at: 4, end: end, quoted: false)
      } else {
        raw(nil, .invalidField(layer: .payload, field: "address family", value: UInt64(family)), 4, end)
      }
    case .raw:
      guard end >= 1 else { return }
      if frame.u8(0) >> 4 == 4 {
        ipv4(at: 0, end: end, quoted: false)
      } else {
        raw(nil, .invalidField(layer: .ipv4, field: "version", value: UInt64(frame.u8(0) >> 4)), 0, end)
      }
    case .ipv4:
      ipv4(at: 0, end: end, quoted: false)
    }
  }

  /// 802.1Q (0x8100), 802.1ad (0x88A8) and the old QinQ 0x9100 tag types.
  static func isVLAN(_ etherType: UInt16) -> Bool {
    etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100
  }

  mutating func network(etherType: UInt16, at offset: Int) {
    if etherType == 0x0800 {
      ipv4(at: offset, end: frame.count, quoted: false)
    } else {
      raw(nil, .invalidField(layer: .ethernet, field: "etherType", value: UInt64(etherType)), offset, frame.count)
    }
  }

  /// Dissects an IPv4 packet at `start` whose bytes end (as captured) at `end`.
  mutating func ipv4(at start: Int, end: Int, quoted: Bool) {
    if !quoted && allowFastPath && plainTCP(at: start, end: end) { return }
    let available = end - start
    guard available >= 20 else {
      raw(.ipv4, .truncated(layer: .ipv4, needed: 20, available: available), start, end, quoted: quoted,
          problems: [.truncated(layer: .ipv4, needed: 20, available: available)])
      return
    }
    let version = frame.u8(start) >> 4
    guard version == 4 else {
      let problem = DissectionProblem.invalidField(layer: .ipv4, field: "version", value: UInt64(version))
      raw(.ipv4, .invalidField(layer: .ipv4, field: "version", value: UInt64(version)), start, end,
          quoted: quoted, problems: [problem])
      return
    }
    let headerLength = Int(frame.u8(start) & 0x0F) * 4
    guard headerLength >= 20 else {
      let value = UInt64(headerLength / 4)
      raw(.ipv4, .invalidField(layer: .ipv4, field: "ihl", value: value), start, end, quoted: quoted,
          problems: [.invalidField(layer: .ipv4, field: "ihl", value: value)])
      return
    }
    guard headerLength <= available else {
      raw(.ipv4, .truncated(layer: .ipv4, needed: headerLength, available: available), start, end,
          quoted: quoted, problems: [.truncated(layer: .ipv4, needed: headerLength, available: available)])
      return
    }
    var problems: [DissectionProblem] = []
    let totalLength = Int(frame.u16(start + 2))
    // Header checksum (quoted headers are not checked: routers may have changed them).
    if verifyChecksums && !quoted {
      if !isHeaderChecksumValid(start, start + headerLength) {
        let stored = frame.u16(start + 10)
        var zeroed = OnesComplement()
        zeroed.add(frame, start, start + headerLength, skippingFieldAt: 10)
        let correct = zeroed.checksum
        problems.append(.badChecksum(layer: .ipv4, stored: stored, correct: correct))
      }
    }
    optionProblems(layer: .ipv4, start + 20, start + headerLength, into: &problems)
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
    let flagsAndOffset = frame.u16(start + 6)
    let fragmentOffset = flagsAndOffset & 0x1FFF
    let moreFragments = flagsAndOffset & 0x2000 != 0
    let proto = frame.u8(start + 9)
    let payloadStart = start + headerLength
    let complete = totalLength <= available && !moreFragments
    if fragmentOffset != 0 {
      append(.payload, payloadStart, payloadEnd, quoted: quoted)
    } else {
      let source = frame.u32(start + 12)
      let destination = frame.u32(start + 16)
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
  @inline(__always)
  mutating func plainTCP(at start: Int, end: Int) -> Bool {
    guard end &- start >= 40, frame.u8(start) == 0x45 else { return false }
    let totalLength = Int(frame.u16(start &+ 2))
    let flagsAndOffset = frame.u16(start &+ 6)
    // Whole (no trailer, not truncated), not a fragment (MF clear, offset 0), TCP.
    guard totalLength == end &- start, flagsAndOffset & 0x3FFF == 0, frame.u8(start &+ 9) == 6 else { return false }
    let tcpStart = start &+ 20
    let tcpHeaderLength = Int(frame.u8(tcpStart &+ 12) >> 4) &* 4
    guard tcpHeaderLength >= 20, tcpHeaderLength <= end &- tcpStart else { return false }
    // The general path's own checks, each of which appends only when something is wrong.
    var problems: [DissectionProblem] = []
    optionProblems(layer: .tcp, tcpStart &+ 20, tcpStart &+ tcpHeaderLength, into: &problems)
    guard problems.isEmpty else { return false }
    if verifyChecksums {
      guard isHeaderChecksumValid(start, tcpStart) else { return false }
      var segment = pseudoHeader(frame.u32(start &+ 12), frame.u32(start &+ 16), protocol: 6, length: end &- tcpStart)
      segment.add(frame.slice(tcpStart, end))
      guard segment.folded == 0xFFFF else { return false }
    }
    let tcpEnd = tcpStart &+ tcpHeaderLength
    // IPv4, TCP and (when not empty) the payload in one step: tags 1 + 4, 1 + 5, 1 + 8, not quoted.
    let withPayload = tcpEnd < end
    let compactTags: UInt64 = withPayload ? 0x09_06_05 : 0x06_05
    let compactEnds = UInt64(truncatingIfNeeded: tcpStart) | UInt64(truncatingIfNeeded: tcpEnd) << 16
      | (withPayload ? UInt64(truncatingIfNeeded: end) << 32 : 0)
    if !layers.appendCompact(tags: compactTags, ends: compactEnds, added: withPayload ? 3 : 2, start: start, lastEnd: end) {
      layers.append(.ipv4, start..<tcpStart, isQuoted: false)
      layers.append(.tcp, tcpStart..<tcpEnd, isQuoted: false)
      if tcpEnd < end { layers.append(.payload, tcpEnd..<end, isQuoted: false) }
    }
    return true
  }

  /// Whether the IPv4 header at `start..<end` sums to 0 (its checksum verifies).
  @inline(__always) func isHeaderChecksumValid(_ start: Int, _ end: Int) -> Bool {
    var sum = OnesComplement()
    sum.add(frame.slice(start, end))
    return sum.folded == 0xFFFF
  }

  struct TransportContext {
    var source: UInt32
    var destination: UInt32
    /// The transport length the IPv4 header claims (total length − header length).
    var ipPayloadLength: Int
    /// Whether the whole transport segment is here (not truncated, not a first fragment).
    var complete: Bool
    var quoted: Bool
  }

  /// The pseudo-header sum (PacketKit's own, `InternetChecksum.pseudoHeader`); `length` is at
  /// most 65535 here (bounded by the IPv4 total length).
  @inline(__always)
  func pseudoHeader(_ source: UInt32, _ destination: UInt32, protocol proto: UInt8, length: Int) -> OnesComplement {
    OnesComplement(
      inner: InternetChecksum.pseudoHeader(
        sourceAddress: IPv4Address(rawValue: source), destinationAddress: IPv4Address(rawValue: destination),
        protocol: IPProtocol(proto), length: length))
  }

  /// The checksum problem, if any, for a transport layer whose bytes are `start..<end`
  /// (checksum field at `checksumOffset` from `start`).
  func transportChecksum(
    layer: ProtocolLayer, proto: UInt8, _ context: TransportContext, _ start: Int, _ end: Int,
    checksumOffset: Int
  ) -> DissectionProblem? {
    guard verifyChecksums, context.complete, !context.quoted else { return nil }
    let stored = frame.u16(start + checksumOffset)
    if layer == .udp && stored == 0 { return nil }  // UDP: no checksum sent
    let pseudo = pseudoHeader(context.source, context.destination, protocol: proto, length: end - start)
    var sum = pseudo
    sum.add(frame.slice(start, end))
    guard sum.folded != 0xFFFF else { return nil }
    let pseudoOnly = pseudo.folded
    if checksumNotReady && (stored == pseudoOnly || stored == ~pseudoOnly) {
      return .checksumPartial(layer: layer, stored: stored)
    }
    var without = pseudo
    without.add(frame, start, end, skippingFieldAt: checksumOffset)
    var correct = without.checksum
    if layer == .udp && correct == 0 { correct = 0xFFFF }
    return .badChecksum(layer: layer, stored: stored, correct: correct)
  }

  mutating func tcp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    let length = end - start
    guard length >= 20 else {
      raw(.tcp, .truncated(layer: .tcp, needed: 20, available: length), start, end, quoted: quoted,
          problems: [.truncated(layer: .tcp, needed: 20, available: length)])
      return
    }
    let headerLength = Int(frame.u8(start + 12) >> 4) * 4
    guard headerLength >= 20 else {
      let value = UInt64(headerLength / 4)
      raw(.tcp, .invalidField(layer: .tcp, field: "dataOffset", value: value), start, end, quoted: quoted,
          problems: [.invalidField(layer: .tcp, field: "data offset", value: value)])
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

  mutating func udp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    let length = end - start
    guard length >= 8 else {
      raw(.udp, .truncated(layer: .udp, needed: 8, available: length), start, end, quoted: quoted,
          problems: [.truncated(layer: .udp, needed: 8, available: length)])
      return
    }
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

  mutating func icmp(at start: Int, end: Int, _ context: TransportContext) {
    let quoted = context.quoted
    let length = end - start
    guard length >= 8 else {
      raw(.icmpv4, .truncated(layer: .icmpv4, needed: 8, available: length), start, end, quoted: quoted,
          problems: [.truncated(layer: .icmpv4, needed: 8, available: length)])
      return
    }
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

  /// Appends the structural problems of a TCP or IPv4 options area (`start..<end`) to
  /// `problems` (appending only when there is one: `+=` of an empty array still allocates).
  @inline(__always) func optionProblems(layer: ProtocolLayer, _ start: Int, _ end: Int, into problems: inout [DissectionProblem]) {
    var offset = start
    while offset < end {
      let frame = self.frame
      switch OptionScanner.step(at: offset, end: end, byte: { frame.u8($0) }) {
      case .option(let kind, let length):
        if kind == 0 { return }
        offset &+= length
      case .malformed(let kind, let length, let available):
        problems.append(.badOption(layer: layer, kind: kind, length: length, offset: offset - start, available: available))
        return
      }
    }
  }
}

extension NullLinkView {
  /// The address family from its 4 stored bytes read big-endian, in whichever byte order gives a
  /// small number.
  static func family(_ bigEndianValue: UInt32) -> UInt32 {
    bigEndianValue & 0xFFFF_0000 != 0 ? bigEndianValue.byteSwapped : bigEndianValue
  }
}
