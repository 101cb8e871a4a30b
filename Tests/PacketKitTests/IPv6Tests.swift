import Testing
@testable import PacketKit

/// The layers of a raw IPv6 packet decoded with the views (no dissector): the fixed header, each
/// extension header, then TCP/UDP/ICMPv6 (and for an ICMPv6 error, the quoted packet again).
/// Throws at the first layer that does not validate.
func decodeIPv6Chain(_ bytes: ArraySlice<UInt8>, depth: Int = 0) throws(PacketError) -> Packet {
  let ip = try IPv6View(validating: bytes)
  var layers: [Layer] = [.ipv6(IPv6Header(ip))]
  let chain = ip.extensionChain
  if let error = chain.error { throw error }
  for (_, view) in chain.headers {
    switch view.headerType {
    case .ipv6HopByHop: layers.append(.ipv6Options(IPv6OptionsHeader(view, kind: .hopByHop)))
    case .ipv6DestinationOptions: layers.append(.ipv6Options(IPv6OptionsHeader(view, kind: .destinationOptions)))
    case .ipv6Routing: layers.append(.ipv6Routing(IPv6RoutingHeader(view)))
    default: layers.append(.ipv6Fragment(IPv6FragmentHeader(view)))
    }
  }
  let upper = ip.payload.clampedSuffix(from: chain.upperLayerOffset)
  func appendPayload(_ bytes: ArraySlice<UInt8>) { if !bytes.isEmpty { layers.append(.payload(Array(bytes))) } }
  if chain.isNonFirstFragment {
    appendPayload(upper)
    return Packet(layers: layers)
  }
  switch chain.upperLayer {
  case .tcp:
    let tcp = try TCPView(validating: upper)
    layers.append(.tcp(TCPHeader(tcp)))
    appendPayload(tcp.payload)
  case .udp:
    let udp = try UDPView(validating: upper)
    layers.append(.udp(UDPHeader(udp)))
    appendPayload(udp.payload)
  case .icmpv6:
    let icmp = try ICMPv6View(validating: upper)
    layers.append(.icmpv6(ICMPv6Header(icmp)))
    if icmp.type.quotesPacket, depth == 0, let quoted = try? decodeIPv6Chain(icmp.body, depth: 1) {
      layers += quoted.layers
    } else {
      appendPayload(icmp.body)
    }
  default:
    appendPayload(upper)
  }
  return Packet(layers: layers)
}

private let a: IPv6Address = "2001:db8::1"
private let b: IPv6Address = "2001:db8::2"
private let quotedSyn = IPv6Header(sourceAddress: b, destinationAddress: a, hopLimit: 1)
  / TCPHeader(sourcePort: 8080, destinationPort: 40000, sequenceNumber: 1, flags: .syn, window: 1024)

/// Each scapy fixture and the same packet built with PacketKit.
let ipv6BuildCases: [(name: String, bytes: [UInt8], packet: Packet)] = [
  ("tcp syn", v6TcpSyn,
   IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback)
    / TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1000, flags: .syn, window: 65535,
                options: [.maximumSegmentSize(1440), .noOperation, .windowScale(7)])),
  ("tcp data", v6TcpData,
   IPv6Header(sourceAddress: a, destinationAddress: b, trafficClass: 0x28, flowLabel: 0x12345, hopLimit: 7)
    / TCPHeader(sourcePort: 40000, destinationPort: 80, sequenceNumber: 5, acknowledgmentNumber: 9, flags: [.psh, .ack], window: 512)
    / "hello"),
  ("udp", v6Udp, IPv6Header(sourceAddress: a, destinationAddress: b) / UDPHeader(sourcePort: 40001, destinationPort: 40002) / "abc"),
  ("echo", v6Echo,
   IPv6Header(sourceAddress: a, destinationAddress: b) / ICMPv6Header.echoRequest(identifier: 0x1234, sequenceNumber: 7) / "ping"),
  ("hop-by-hop", v6HopByHop,
   Packet {
     IPv6Header(sourceAddress: a, destinationAddress: b)
     IPv6OptionsHeader.hopByHop([.routerAlert(0), .padN(length: 2)])
     TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: 0, flags: .syn, window: 0)
   }),
  ("destination options", v6DestOpt,
   IPv6Header(sourceAddress: a, destinationAddress: b)
    / IPv6OptionsHeader.destinationOptions([.raw(type: 0x9e, data: [1, 2, 3])]) / UDPHeader(sourcePort: 7, destinationPort: 9)),
  ("routing type 0", v6RoutingType0,
   IPv6Header(sourceAddress: a, destinationAddress: b)
    / IPv6RoutingHeader.type0(addresses: ["2001:db8::3", "2001:db8::4"])
    / TCPHeader(sourcePort: 1000, destinationPort: 2000, sequenceNumber: 3, flags: .syn, window: 100)),
  ("segment routing", v6SegmentRouting,
   IPv6Header(sourceAddress: a, destinationAddress: b)
    / IPv6RoutingHeader.segmentRouting(segments: ["2001:db8::9", "2001:db8::8"], segmentsLeft: 1)
    / UDPHeader(sourcePort: 1, destinationPort: 2) / "x"),
  ("first fragment", v6Fragment,
   IPv6Header(sourceAddress: a, destinationAddress: b) / IPv6FragmentHeader(identification: 0xabcd_ef01, moreFragments: true)
    / ICMPv6Header.echoRequest(identifier: 1, sequenceNumber: 1) / "frag"),
  ("later fragment", v6FragmentLater,
   IPv6Header(sourceAddress: a, destinationAddress: b)
    / IPv6FragmentHeader(identification: 0xabcd_ef01, fragmentOffset: 3, nextHeader: .icmpv6) / "tail-bytes"),
  ("packet too big", v6PacketTooBig, IPv6Header(sourceAddress: b, destinationAddress: a) / ICMPv6Header.packetTooBig(mtu: 1280) / quotedSyn),
  ("unreachable", v6Unreachable, IPv6Header(sourceAddress: b, destinationAddress: a) / ICMPv6Header.destinationUnreachable(code: 4) / quotedSyn),
  ("time exceeded", v6TimeExceeded, IPv6Header(sourceAddress: b, destinationAddress: a) / ICMPv6Header.timeExceeded() / quotedSyn),
  ("parameter problem", v6ParamProblem,
   IPv6Header(sourceAddress: b, destinationAddress: a) / ICMPv6Header.parameterProblem(code: 1, pointer: 6) / quotedSyn),
  ("neighbor solicitation", v6NeighborSolicitation,
   IPv6Header(sourceAddress: "fe80::1", destinationAddress: IPv6Address("fe80::2").solicitedNodeMulticast, hopLimit: 255)
    / ICMPv6Header.neighborSolicitation(
      target: "fe80::2", options: [.sourceLinkLayerAddress(MACAddress(0x02, 0, 0, 0, 0, 1))])),
  ("neighbor advertisement", v6NeighborAdvertisement,
   IPv6Header(sourceAddress: "fe80::2", destinationAddress: "fe80::1", hopLimit: 255)
    / ICMPv6Header.neighborAdvertisement(target: "fe80::2", options: [.targetLinkLayerAddress(MACAddress(0x02, 0, 0, 0, 0, 2))])),
  ("ipv4-mapped", v6Mapped,
   IPv6Header(sourceAddress: IPv6Address(ipv4Mapped: "127.0.0.1"), destinationAddress: IPv6Address(ipv4Mapped: "127.0.0.2"))
    / TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: 4, flags: .rst, window: 0)),
]

@Suite struct IPv6AddressTests {
  /// (input, what glibc's inet_ntop — and tcpdump — print for it).
  static let texts: [(String, String)] = [
    ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2001:db8::1", "2001:db8::1"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
    ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"), ("fe80::1:2:3:4", "fe80::1:2:3:4"),
    ("::ffff:1.2.3.4", "::ffff:1.2.3.4"), ("::1.2.3.4", "::1.2.3.4"), ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
    ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"), ("0:0:1::", "0:0:1::"),
    ("ff02::1:ff00:2", "ff02::1:ff00:2"),
    ("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"),
    ("::0.0.0.2", "::2"), ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"), ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
    ("0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1"), ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
  ]

  @Test(arguments: texts) func parsesAndPrintsAsInetNtop(input: String, expected: String) throws {
    let address = try #require(IPv6Address(input))
    #expect(address.description == expected)
    #expect(IPv6Address(expected) == address)
  }

  @Test(arguments: [
    "", ":", ":::", "1:2", "1::2::3", "12345::", "g::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", ":1::",
    "1::2:", "::1.2.3", "::1.2.3.256", "[::1]", "::1%lo", " ::1", "1.2.3.4", "::ffff:1.2.3.4:5",
  ])
  func rejectsBadText(_ text: String) {
    #expect(IPv6Address(text) == nil)
  }

  @Test func octetsAndGroups() {
    let address: IPv6Address = "2001:db8::102:304"
    #expect(address.octets == [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])
    #expect(IPv6Address(octets: address.octets) == address)
    #expect(address.groups == [0x2001, 0xdb8, 0, 0, 0, 0, 0x102, 0x304])
    #expect(IPv6Address(ipv4Mapped: "10.1.2.3").description == "::ffff:10.1.2.3")
    let mapped: IPv6Address = "::ffff:10.1.2.3"
    #expect(mapped.ipv4Mapped == IPv4Address(10, 1, 2, 3))
    #expect(IPv6Address.loopback.ipv4Mapped == nil)
    #expect((IPv6Address("fe80::1") as IPv6Address).isLinkLocal)
    #expect((IPv6Address("ff02::1") as IPv6Address).isMulticast)
    #expect(IPv6Address("2001:db8::aabb:ccdd").solicitedNodeMulticast.description == "ff02::1:ffbb:ccdd")
  }
}

@Suite struct IPv6Tests {
  @Test func fixtureToFields() throws {
    let view = try IPv6View(validating: offsetSlice(v6TcpData))
    #expect(view.version == 6)
    #expect(view.trafficClass == 0x28)
    #expect(view.flowLabel == 0x12345)
    #expect(view.payloadLength == 25)
    #expect(view.nextHeader == .tcp)
    #expect(view.hopLimit == 7)
    #expect(view.sourceAddress == a)
    #expect(view.destinationAddress.description == "2001:db8::2")
    #expect(!view.isTruncated)
    #expect(view.trailingBytes.isEmpty)
    let tcp = try TCPView(validating: view.payload)
    #expect(Array(tcp.payload) == Array("hello".utf8))
    #expect(tcp.isChecksumValid(pseudoHeader: view.pseudoHeader()))
  }

  @Test(arguments: ipv6BuildCases.map { ($0.name, $0.bytes, $0.packet) })
  func fieldsToScapyBytes(name: String, bytes: [UInt8], packet: Packet) throws {
    #expect(try encodeOverA5(packet) == bytes, "\(name)")
  }

  @Test(arguments: ipv6BuildCases.map { ($0.name, $0.bytes) })
  func decodeEncodeRoundTrip(name: String, bytes: [UInt8]) throws {
    let decoded = try decodeIPv6Chain(offsetSlice(bytes))
    #expect(try decoded.encoded() == bytes, "\(name)")
    // Every computed field nil again: the same bytes (the fixtures are all consistent).
    var cleared = decoded
    for i in cleared.layers.indices {
      switch cleared.layers[i] {
      case .ipv6(var h): h.payloadLength = nil; h.nextHeader = nil; cleared.layers[i] = .ipv6(h)
      case .tcp(var h): h.checksum = nil; h.dataOffset = nil; cleared.layers[i] = .tcp(h)
      case .udp(var h): h.checksum = nil; h.length = nil; cleared.layers[i] = .udp(h)
      case .icmpv6(var h): h.checksum = nil; cleared.layers[i] = .icmpv6(h)
      case .ipv6Options(var h): h.headerExtensionLength = nil; cleared.layers[i] = .ipv6Options(h)
      default: break
      }
    }
    #expect(try cleared.encoded() == bytes, "\(name)")
    #expect(try cleared.resolved() == decoded, "\(name)")
  }

  @Test(arguments: ipv6BuildCases.map { ($0.name, $0.bytes) })
  func upperChecksumsVerifyWithThePseudoHeader(name: String, bytes: [UInt8]) throws {
    let view = try IPv6View(validating: offsetSlice(bytes))
    let chain = view.extensionChain
    guard !chain.isNonFirstFragment else { return }
    let upper = view.payload.clampedSuffix(from: chain.upperLayerOffset)
    let pseudo = view.pseudoHeader()
    switch chain.upperLayer {
    case .tcp: #expect(try TCPView(validating: upper).isChecksumValid(pseudoHeader: pseudo), "\(name)")
    case .udp: #expect(try UDPView(validating: upper).isChecksumValid(pseudoHeader: pseudo), "\(name)")
    case .icmpv6:
      let icmp = try ICMPv6View(validating: upper)
      #expect(icmp.isChecksumValid(pseudoHeader: pseudo), "\(name)")
      #expect(icmp.computedChecksum(pseudoHeader: pseudo) == icmp.checksum, "\(name)")
    default: Issue.record("\(name): unexpected upper layer \(chain.upperLayer)")
    }
  }

  @Test func pseudoHeaderMatchesTheRFCLayout() {
    // RFC 8200 §8.1 by hand: source, destination, 32-bit length, 3 zeros, next header.
    let bytes = a.octets + b.octets + [0, 0, 0x01, 0x02, 0, 0, 0, 6]
    var sum = InternetChecksum.pseudoHeader(sourceAddress: a, destinationAddress: b, protocol: .tcp, length: 0x102)
    var reference = InternetChecksum()
    reference.add(bytes)
    #expect(sum.finalized == reference.finalized)
    #expect(sum.finalized == rfc1071(bytes))
    sum.add(uint16: 0)
    #expect(sum.partialSum == reference.partialSum)
  }

  @Test func routingHeaderFinalDestinationIsInThePseudoHeader() throws {
    let view = try IPv6View(validating: v6RoutingType0[...])
    #expect(view.extensionChain.finalDestination == IPv6Address("2001:db8::4"))
    let srh = try IPv6View(validating: v6SegmentRouting[...])
    #expect(srh.extensionChain.finalDestination == IPv6Address("2001:db8::9"))
    // With the header's own destination, the checksum would not verify.
    let upper = view.payload.clampedSuffix(from: view.extensionChain.upperLayerOffset)
    let wrong = InternetChecksum.pseudoHeader(
      sourceAddress: view.sourceAddress, destinationAddress: view.destinationAddress, protocol: .tcp, length: upper.count)
    #expect(try !TCPView(validating: upper).isChecksumValid(pseudoHeader: wrong))
  }

  @Test func extensionHeaderFields() throws {
    let view = try IPv6View(validating: offsetSlice(v6HopByHop))
    let chain = view.extensionChain
    #expect(chain.headers.count == 1)
    #expect(chain.upperLayer == .tcp)
    #expect(chain.upperLayerOffset == 8)
    let options = chain.headers[0].view.options.compactMap { try? $0.get() }
    #expect(options == [.routerAlert(0), .padN(length: 2)])
    #expect(options[0].action == .skip)
    let dest = try IPv6View(validating: v6DestOpt[...]).extensionChain.headers[0].view
    let raw = try #require(try dest.options.first { _ in true }?.get())
    #expect(raw == .raw(type: 0x9e, data: [1, 2, 3]))
    #expect(raw.action == .discardAndSendICMP)
    #expect(!raw.mayChange)
    #expect(IPv6Option.raw(type: 0xE0, data: []).action == .discardAndSendICMPUnlessMulticast)
    #expect(IPv6Option.raw(type: 0x7F, data: []).action == .discard)
    #expect(IPv6Option.raw(type: 0x3F, data: []).mayChange)
    let fragment = try IPv6View(validating: v6FragmentLater[...]).extensionChain
    #expect(fragment.isNonFirstFragment)
    #expect(fragment.headers[0].view.fragmentOffset == 3)
    #expect(fragment.headers[0].view.fragmentIdentification == 0xabcd_ef01)
    #expect(!fragment.headers[0].view.moreFragments)
    #expect(IPv6FragmentHeader(identification: 1).isAtomic)
    let srh = try IPv6View(validating: v6SegmentRouting[...]).extensionChain.headers[0].view
    #expect(srh.routingType == 4)
    #expect(srh.segmentsLeft == 1)
    #expect(srh.lastEntry == 1)
    #expect(srh.routingAddresses.map(\.description) == ["2001:db8::9", "2001:db8::8"])
  }

  @Test func neighborDiscoveryFields() throws {
    let ip = try IPv6View(validating: offsetSlice(v6NeighborAdvertisement))
    let na = try ICMPv6View(validating: ip.payload)
    #expect(na.type == .neighborAdvertisement)
    #expect(na.targetAddress == IPv6Address("fe80::2"))
    #expect(na.restOfHeader == 0x6000_0000)  // S and O
    #expect(na.neighborDiscoveryOptions == [.targetLinkLayerAddress(MACAddress(2, 0, 0, 0, 0, 2))])
    #expect(na.body.isEmpty)
    let tooBig = try ICMPv6View(validating: IPv6View(validating: v6PacketTooBig[...]).payload)
    #expect(tooBig.mtuOrPointer == 1280)
    #expect(tooBig.body.count == 60)
    #expect(try IPv6View(validating: tooBig.body).destinationAddress == a)
  }

  @Test func overridesAreKeptVerbatim() throws {
    // Payload length 0 without a jumbogram option, a next header that lies, a header extension
    // length that lies, PadN with data, a fragment offset on an atomic-looking fragment.
    let packet = IPv6Header(sourceAddress: a, destinationAddress: b, payloadLength: 0, nextHeader: .udp, hopLimit: 0)
      / IPv6OptionsHeader(.hopByHop, options: [.raw(type: 1, data: [9, 9])], headerExtensionLength: 3)
      / IPv6FragmentHeader(identification: 7, fragmentOffset: 0x1FFF, moreFragments: false, reserved: 0xAA, reservedBits: 3)
      / TCPHeader(sourcePort: 1, destinationPort: 2, checksum: 0xBEEF)
    let bytes = try encodeOverA5(packet)
    #expect(Array(bytes[4..<8]) == [0, 0, 17, 0])
    #expect(Array(bytes[40..<48]) == [44, 3, 1, 2, 9, 9, 1, 0])  // padded with PadN(2) to 8
    #expect(Array(bytes[48..<56]) == [6, 0xAA, 0xFF, 0xFE, 0, 0, 0, 7])  // offset 0x1FFF, reserved 3, M 0
    #expect(bytes[56 + 16] == 0xBE && bytes[56 + 17] == 0xEF)
  }

  @Test func valuesTooWideThrow() {
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv6, field: "flowLabel", value: 0x10_0000)) {
      try (IPv6Header(sourceAddress: a, destinationAddress: b, flowLabel: 0x10_0000) / "x").encoded()
    }
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv6Fragment, field: "fragmentOffset", value: 0x2000)) {
      try (IPv6Header(sourceAddress: a, destinationAddress: b) / IPv6FragmentHeader(identification: 1, fragmentOffset: 0x2000)).encoded()
    }
    #expect(throws: PacketError.computedValueOutOfRange(layer: .ipv6, field: "payloadLength", value: 70_000)) {
      try (IPv6Header(sourceAddress: a, destinationAddress: b) / [UInt8](repeating: 0, count: 70_000)).encoded()
    }
    #expect(throws: PacketError.missingPseudoHeader) {
      try (UDPHeader(sourcePort: 1, destinationPort: 2) / ICMPv6Header.echoRequest(identifier: 1, sequenceNumber: 1)).encoded()
    }
  }

  @Test func nextHeaderDefaults() throws {
    let alone = try IPv6Header(sourceAddress: a, destinationAddress: b).encoded()
    #expect(alone[6] == 59 && alone[4] == 0 && alone[5] == 0)
    let withData = try (IPv6Header(sourceAddress: a, destinationAddress: b) / "abc").encoded()
    #expect(withData[6] == 59 && withData[5] == 3)
    let inIPv4 = try (IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2")
      / IPv6Header(sourceAddress: a, destinationAddress: b)).encoded()
    #expect(inIPv4[9] == 41)
    // IPv4 under a payload keeps protocol 0 as before.
    let v4 = try (IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2") / "abc").encoded()
    #expect(v4[9] == 0)
    var packet = IPv6Header(sourceAddress: a, destinationAddress: b) / ICMPv6Header.echoRequest(identifier: 1, sequenceNumber: 2)
    #expect(packet.ipv6?.sourceAddress == a)
    #expect(packet.icmpv6?.sequenceNumber == 2)
    packet.ipv6?.hopLimit = 1
    #expect(try packet.encoded()[7] == 1)
  }

  @Test(arguments: ipv6BuildCases.map { ($0.name, $0.bytes) })
  func everyTruncationNeverTraps(name: String, bytes: [UInt8]) {
    for length in 0...bytes.count {
      let prefix = offsetSlice(Array(bytes[..<length]))
      if length < 40 {
        #expect(throws: PacketError.truncated(layer: .ipv6, needed: 40, available: length)) { try IPv6View(validating: prefix) }
        continue
      }
      // Views and the chain walker: any result, no trap; what parses re-encodes to the prefix.
      guard let view = try? IPv6View(validating: prefix) else { Issue.record("\(name) \(length)"); continue }
      #expect(view.isTruncated == (length < bytes.count))
      let chain = view.extensionChain
      _ = chain.finalDestination
      for (_, header) in chain.headers { _ = (header.options.map { $0 }, header.routingAddresses, IPv6OptionsHeader(header, kind: .hopByHop)) }
      if let packet = try? decodeIPv6Chain(prefix), let encoded = try? packet.encoded() {
        #expect(encoded.count <= bytes.count)
      }
    }
  }

  @Test func mutantCorpusNeverTraps() {
    var generator = SeededGenerator(seed: 0x1b6)
    for (name, bytes, _) in ipv6BuildCases {
      for _ in 0..<300 {
        var mutant = bytes
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
          let index = Int.random(in: 0..<mutant.count, using: &generator)
          mutant[index] = UInt8.random(in: 0...255, using: &generator)
        }
        if Bool.random(using: &generator) { mutant.removeLast(Int.random(in: 0..<mutant.count, using: &generator)) }
        guard let view = try? IPv6View(validating: offsetSlice(mutant)) else { continue }
        _ = view.pseudoHeader()
        _ = view.extensionChain.finalDestination
        if let packet = try? decodeIPv6Chain(view.bytes) {
          // Whatever decoded re-encodes, bytes included, unless a value it holds cannot fit.
          _ = try? packet.encoded()
        }
        if let icmp = try? ICMPv6View(validating: view.payload) { _ = (icmp.neighborDiscoveryOptions, icmp.body, name) }
      }
    }
  }

  @Test func malformedOptionsAreKeptAsBytes() throws {
    // A PadN whose length runs past the header: kept verbatim, re-encoded exactly.
    let area: [UInt8] = [0x01, 0x09, 0, 0, 0, 0]
    let options = IPv6Option.decodeAll(area[...])
    #expect(options == [.bytes(area)])
    let nd = NeighborDiscoveryOption.decodeAll([1, 0, 1, 2][...])
    #expect(nd == [.bytes([1, 0, 1, 2])])
  }
}
