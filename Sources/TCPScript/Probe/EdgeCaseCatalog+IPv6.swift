import PacketKit

/// The IPv6 cases: RFC 8200's extension-header and option rules, RFC 7112 (header chain in the
/// first fragment), RFC 5722 (overlapping fragments), RFC 6946/8021 (atomic fragments), RFC 5095
/// (Routing Header type 0), RFC 8504's limits, and the TCP cases that apply unchanged over IPv6.
///
/// Most ride on an ICMPv6 echo request, so "processed" means an echo reply, and a plain echo
/// request is the positive control around each (`layer: .ipv6`); the TCP cases use a SYN as
/// their control, as their IPv4 twins do (`layer: .tcp`). Expectations come from the RFC texts;
/// what Linux did is in docs/edge-cases.md.
extension EdgeCaseCatalog {
  public static let ipv6: [EdgeCase] = ipv6Options + ipv6Chains + ipv6Fragments + ipv6TCP

  /// The IPv6 case called `name`.
  public static func namedIPv6(_ name: String) -> EdgeCase? { ipv6.first { $0.name == name } }

  static let ipv6OptionRule = "the two high-order bits of an unrecognized option's type say what to do"

  static let ipv6Options: [EdgeCase] = [
    v6("ip6-dstopt-unknown-00", "echo request with an unknown Destination option, action bits 00",
       "RFC 8200 §4.2", .procedure, ipv6OptionRule + ": 00, skip over it and go on", .echoReply) { c in
      [c.echo { IPv6OptionsHeader.destinationOptions([.raw(type: 0x1E, data: [0, 0, 0, 0])]) }]
    },
    v6("ip6-dstopt-unknown-01", "echo request with an unknown Destination option, action bits 01",
       "RFC 8200 §4.2", .procedure, ipv6OptionRule + ": 01, discard the packet", .silentDrop) { c in
      [c.echo { IPv6OptionsHeader.destinationOptions([.raw(type: 0x5E, data: [0, 0, 0, 0])]) }]
    },
    v6("ip6-dstopt-unknown-10", "echo request with an unknown Destination option, action bits 10",
       "RFC 8200 §4.2", .procedure,
       ipv6OptionRule + ": 10, discard it and send ICMP Parameter Problem code 2 pointing at the option",
       .icmpv6ParameterProblem(code: 2)) { c in
      [c.echo { IPv6OptionsHeader.destinationOptions([.raw(type: 0x9E, data: [0, 0, 0, 0])]) }]
    },
    v6("ip6-dstopt-unknown-11", "echo request with an unknown Destination option, action bits 11 (unicast)",
       "RFC 8200 §4.2", .procedure,
       ipv6OptionRule + ": 11, discard it and, unless the destination was multicast, send Parameter Problem code 2",
       .icmpv6ParameterProblem(code: 2)) { c in
      [c.echo { IPv6OptionsHeader.destinationOptions([.raw(type: 0xDE, data: [0, 0, 0, 0])]) }]
    },
    v6("ip6-hbh-unknown-10", "echo request with an unknown Hop-by-Hop option, action bits 10",
       "RFC 8200 §4.2, §4.3", .procedure,
       ipv6OptionRule + " (Hop-by-Hop options too): 10, discard and send Parameter Problem code 2",
       .icmpv6ParameterProblem(code: 2)) { c in
      [c.echo { IPv6OptionsHeader.hopByHop([.raw(type: 0x9E, data: [0, 0, 0, 0])]) }]
    },
    v6("ip6-dstopt-nine-options", "echo request with nine unknown skip options in one Destination Options header",
       "RFC 8504 §5.3", .may,
       "a node MAY set a limit on the options in a header and discard a packet over it; under it, skip them",
       .handled) { c in
      [c.echo { IPv6OptionsHeader.destinationOptions([IPv6Option](repeating: .raw(type: 0x1E, data: []), count: 9)) }]
    },
  ]

  static let ipv6Chains: [EdgeCase] = [
    v6("ip6-hbh-not-first", "echo request with a Hop-by-Hop header after a Destination Options header",
       "RFC 8200 §4.1, §4", .procedure,
       "Hop-by-Hop may only follow the IPv6 header; next header 0 elsewhere is treated as unrecognized: "
         + "discard and send Parameter Problem code 1",
       .icmpv6ParameterProblem(code: 1)) { c in
      [c.echo {
        IPv6OptionsHeader.destinationOptions()
        IPv6OptionsHeader.hopByHop()
      }]
    },
    v6("ip6-hop-limit-0", "echo request to the target with hop limit 0", "RFC 8200 §3", .implied,
       "only a node that forwards checks and decrements the hop limit; the destination processes the packet",
       .echoReply) { c in [c.echo(hopLimit: 0) { }] },
    v6("ip6-payload-length-0", "echo request whose payload length is 0, no Jumbo Payload option",
       "RFC 8200 §3; RFC 2675 §3", .implied,
       "payload length 0 means no payload unless a Jumbo Payload option is present: nothing to process",
       .silentDrop) { c in [c.echo(payloadLength: 0) { }] },
    v6("ip6-rh0-segments-left-1", "echo request with a Routing Header type 0, segments left 1",
       "RFC 5095 §3; RFC 8200 §4.4", .must,
       "RH0 MUST be processed as an unrecognized routing type: with segments left, discard and send "
         + "Parameter Problem code 0 pointing at the type",
       .icmpv6ParameterProblem(code: 0)) { c in
      [c.echo { IPv6RoutingHeader.type0(addresses: [IPv6Address("2001:db8::1")], segmentsLeft: 1) }]
    },
    v6("ip6-rh0-segments-left-0", "echo request with a Routing Header type 0, no segments left",
       "RFC 5095 §3; RFC 8200 §4.4", .must,
       "an unrecognized routing type with segments left 0 is ignored: process the next header",
       .echoReply) { c in
      [c.echo { IPv6RoutingHeader.type0(addresses: [IPv6Address("2001:db8::1")], segmentsLeft: 0) }]
    },
    v6("ip6-chain-13-dstopts", "echo request behind 13 empty Destination Options headers",
       "RFC 8504 §5.3; RFC 8200 §4.1", .may,
       "RFC 8200 sets no limit on a chain; a node MAY limit the headers it processes and discard a packet over it",
       .handled) { c in
      [c.echo { for _ in 0..<13 { IPv6OptionsHeader.destinationOptions() } }]
    },
  ]

  static let ipv6Fragments: [EdgeCase] = [
    v6("ip6-first-fragment-short-chain", "echo request whose first fragment ends inside its Destination Options header",
       "RFC 7112 §5; RFC 8200 §4.5", .should,
       "a first fragment without the whole header chain SHOULD be discarded with Parameter Problem code 3",
       .icmpv6ParameterProblem(code: 3)) { c in
      CraftedPackets(packets: [], reference: c.echoReference, encodedPackets: c.fragmented(c.longOptionsEcho(), maximumSize: 80))
    },
    v6("ip6-atomic-fragment", "echo request in one fragment (offset 0, M 0: an atomic fragment)",
       "RFC 6946 §4; RFC 8021", .must,
       "a host MUST process an atomic fragment in isolation from any other fragments: it is processed",
       .echoReply) { c in
      CraftedPackets(packets: [], reference: c.echoReference, encodedPackets: c.fragmented(c.longOptionsEcho(), maximumSize: 1280))
    },
    v6("ip6-three-fragments", "echo request in three fragments", "RFC 8200 §4.5", .procedure,
       "the fragments are reassembled and the datagram processed", .echoReply) { c in
      CraftedPackets(packets: [], reference: c.echoReference, encodedPackets: c.fragmented(c.bigEcho(), maximumSize: 40 + 8 + 48))
    },
    v6("ip6-overlapping-fragments", "echo request in fragments that overlap by 8 bytes",
       "RFC 5722 §4; RFC 8200 §4.5", .must,
       "when fragments overlap, the whole datagram MUST be discarded silently", .silentDrop) { c in
      CraftedPackets(packets: [], reference: c.echoReference, encodedPackets: c.overlappingFragments())
    },
  ]

  /// The TCP cases over IPv6: the IPv4 catalog's TCP cases (RFC 9293's rules do not depend on
  /// the IP version), each built as its IPv4 twin with the IPv6 header in place of the IPv4 one
  /// (TCP's checksum then covers the IPv6 pseudo-header), plus a bad checksum computed for IPv6.
  /// The established ones run on a `Flow` over IPv6, and so do SYN data and window scale (their
  /// judges complete the handshake; window scale reads the target's socket through `inet_diag`
  /// for AF_INET6).
  static let ipv6TCP: [EdgeCase] = (closedPort + listening + malformedTCP + established).compactMap(ipv6Twin) + [
    EdgeCase(
      name: "tcp6-bad-checksum", summary: "SYN with a wrong TCP checksum (IPv6 pseudo-header)", setup: .listening,
      rfc: "RFC 9293 §3.1 (MUST-2, MUST-3); RFC 8200 §8.1", requirement: .must,
      rule: "the receiver MUST check the checksum, over the IPv6 pseudo-header; a segment that fails it is discarded",
      expected: .silentDrop, family: .ipv6
    ) { c in
      var packets = c.single6(c.tcp(.syn))
      if var bytes = try? packets.encoded().first, bytes.count >= 40 + 18 {
        bytes[40 + 16] ^= 0x55  // the TCP checksum's high byte
        packets.encodedPackets = [bytes]
        packets.packets = []
      }
      return packets
    },
  ]

  /// The IPv6 twin of an IPv4 TCP case, when it has no IPv4-specific part (an exact IPv4 header,
  /// fragments) and a checksum left to compute.
  static func ipv6Twin(_ edgeCase: EdgeCase) -> EdgeCase? {
    guard edgeCase.family == .ipv4, edgeCase.layer == .tcp, !edgeCase.needsExactIPv4Header, edgeCase.name != "tcp-bad-checksum"
    else { return nil }
    let name = edgeCase.name.hasPrefix("tcp-") ? "tcp6-" + edgeCase.name.dropFirst(4) : "tcp6-" + edgeCase.name
    let craft = edgeCase.craft
    return EdgeCase(
      name: name, summary: edgeCase.summary + ", over IPv6", setup: edgeCase.setup, rfc: edgeCase.rfc,
      requirement: edgeCase.requirement, rule: edgeCase.rule, expected: edgeCase.expected, layer: .tcp,
      allowedDrop: edgeCase.allowedDrop, family: .ipv6
    ) { c in
      var crafted = craft(c)
      crafted.packets = crafted.packets.map { packet in
        var packet = packet
        for index in packet.layers.indices {
          if case .ipv4(let ip) = packet.layers[index] { packet.layers[index] = .ipv6(c.ip6(hopLimit: ip.timeToLive)) }
          if case .tcp(var tcp) = packet.layers[index], tcp.checksum != nil {
            tcp.checksum = nil  // an IPv4 twin never sets it but for tcp-bad-checksum; compute for IPv6
            packet.layers[index] = .tcp(tcp)
          }
        }
        return packet
      }
      return crafted
    }
  }

  /// An ICMPv6 echo case: its packets, its echo-request control (`layer: .ipv6`).
  static func v6(
    _ name: String, _ summary: String, _ rfc: String, _ requirement: RequirementLevel, _ rule: String,
    _ expected: ExpectedReaction, allowedDrop: AllowedDrop? = nil, craft: @escaping @Sendable (CraftContext) -> [Packet]
  ) -> EdgeCase {
    v6(name, summary, rfc, requirement, rule, expected, allowedDrop: allowedDrop) { c -> CraftedPackets in
      CraftedPackets(packets: craft(c), reference: c.echoReference)
    }
  }

  static func v6(
    _ name: String, _ summary: String, _ rfc: String, _ requirement: RequirementLevel, _ rule: String,
    _ expected: ExpectedReaction, allowedDrop: AllowedDrop? = nil,
    craft: @escaping @Sendable (CraftContext) -> CraftedPackets
  ) -> EdgeCase {
    EdgeCase(
      name: name, summary: summary, setup: .listening, rfc: rfc, requirement: requirement, rule: rule,
      expected: expected, layer: .ipv6, allowedDrop: allowedDrop, family: .ipv6, craft: craft)
  }
}

extension CraftedPackets {
  init(packets: [Packet], reference: CraftedSegment, encodedPackets: [[UInt8]]) {
    self.init(packets: packets, reference: reference)
    self.encodedPackets = encodedPackets
  }
}

extension CraftContext {
  /// The IPv6 header every IPv6 case starts from: our address to the target, hop limit 64.
  public func ip6(hopLimit: UInt8 = 64, payloadLength: UInt16? = nil) -> IPv6Header {
    IPv6Header(
      sourceAddress: source.ipv6 ?? .loopback, destinationAddress: destination.ipv6 ?? .loopback,
      payloadLength: payloadLength, hopLimit: hopLimit)
  }

  /// One IPv6 packet `ip6() / tcp / payload`.
  public func single6(_ tcp: TCPHeader, payload: [UInt8] = []) -> CraftedPackets {
    CraftedPackets(packets: [ip6() / tcp / payload], reference: CraftedSegment(tcp, payloadLength: payload.count), payload: payload)
  }

  /// An echo request (identifier: this case's `identification`) behind `extensions`.
  public func echo(
    hopLimit: UInt8 = 64, payloadLength: UInt16? = nil, @PacketBuilder extensions: () -> [Layer]
  ) -> Packet {
    var packet = Packet(layers: [.ipv6(ip6(hopLimit: hopLimit, payloadLength: payloadLength))])
    packet.layers += extensions()
    return packet / ICMPv6Header.echoRequest(identifier: identification, sequenceNumber: 1) / "tcpcraft edge"
  }

  /// What an echo case is about (no TCP segment: all zero).
  var echoReference: CraftedSegment { CraftedSegment(sequence: 0, acknowledgment: 0, flags: [], payloadLength: 0) }

  /// An echo request behind a 64-byte Destination Options header (for RFC 7112 and atomic
  /// fragments).
  func longOptionsEcho() -> Packet {
    echo { IPv6OptionsHeader.destinationOptions([.padN(length: 6), .raw(type: 0x1E, data: [UInt8](repeating: 0, count: 54))]) }
  }

  /// An echo request with 128 bytes of data (for three fragments).
  func bigEcho() -> Packet {
    Packet(layers: [.ipv6(ip6())]) / ICMPv6Header.echoRequest(identifier: identification, sequenceNumber: 1)
      / [UInt8](repeating: 0x74, count: 128)
  }

  /// `packet` fragmented to `maximumSize`-byte packets, with this case's fragment identification.
  func fragmented(_ packet: Packet, maximumSize: Int) -> [[UInt8]] {
    (try? packet.ipv6Fragments(maximumSize: maximumSize, identification: UInt32(identification) << 8 | 0x5A)) ?? []
  }

  /// `bigEcho()` in two fragments whose bytes overlap: 0..<64 and 56..<end (the same bytes).
  func overlappingFragments() -> [[UInt8]] {
    guard let whole = try? bigEcho().encoded(), whole.count > 40 + 64 else { return [] }
    let payload = Array(whole[40...])  // ICMPv6 header and data, 136 bytes
    let identification = UInt32(identification) << 8 | 0xA5
    func fragment(_ range: Range<Int>, offset: Int, more: Bool) -> [UInt8] {
      var header = Array(whole[0..<40])
      let length = 8 + range.count
      header[4] = UInt8(length >> 8)
      header[5] = UInt8(length & 0xFF)
      header[6] = 44  // Fragment header
      let offsetField = UInt16(offset / 8) << 3 | (more ? 1 : 0)
      let fragmentHeader: [UInt8] = [
        58, 0, UInt8(offsetField >> 8), UInt8(offsetField & 0xFF),
        UInt8(identification >> 24), UInt8((identification >> 16) & 0xFF), UInt8((identification >> 8) & 0xFF),
        UInt8(identification & 0xFF),
      ]
      return header + fragmentHeader + Array(payload[range])
    }
    return [fragment(0..<64, offset: 0, more: true), fragment(56..<payload.count, offset: 56, more: false)]
  }
}
