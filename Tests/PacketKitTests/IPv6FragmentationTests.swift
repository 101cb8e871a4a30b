import Testing
@testable import PacketKit

/// `Packet.ipv6Fragments` against scapy's `fragment6`, and the fragments reassembled by hand.
@Suite struct IPv6FragmentationTests {
  static let a: IPv6Address = "2001:db8::1"
  static let b: IPv6Address = "2001:db8::2"

  @Test func echoFragmentsEqualScapys() throws {
    let echo = IPv6Header(sourceAddress: Self.a, destinationAddress: Self.b)
      / ICMPv6Header.echoRequest(identifier: 1, sequenceNumber: 1) / [UInt8](repeating: 0x41, count: 100)
    #expect(try echo.ipv6Fragments(maximumSize: 80, identification: 0x1234) == v6FragmentsOfEcho)
  }

  @Test func hopByHopStaysInEveryFragment() throws {
    let datagram = Packet {
      IPv6Header(sourceAddress: Self.a, destinationAddress: Self.b)
      IPv6OptionsHeader.hopByHop()
      UDPHeader(sourcePort: 1, destinationPort: 2)
      [UInt8](repeating: 0x42, count: 40)
    }
    let fragments = try datagram.ipv6Fragments(maximumSize: 72, identification: 0x1234)
    #expect(fragments == v6FragmentsAfterHopByHop)
    // Each fragment parses: HBH, then a Fragment header; offsets tile the original payload.
    var reassembled: [UInt8] = []
    for (i, bytes) in fragments.enumerated() {
      let view = try IPv6View(validating: bytes[...])
      let chain = view.extensionChain
      #expect(chain.headers.map(\.view.headerType) == [.ipv6HopByHop, .ipv6Fragment])
      let fragment = chain.headers[1].view
      #expect(Int(fragment.fragmentOffset) * 8 == reassembled.count)
      #expect(fragment.moreFragments == (i < fragments.count - 1))
      #expect(fragment.nextHeader == .udp)
      reassembled += view.payload.clampedSuffix(from: 16)
    }
    #expect(reassembled == Array(try datagram.encoded()[48...]))
  }

  @Test func aPacketThatFitsIsOneAtomicFragment() throws {
    let syn = IPv6Header(sourceAddress: Self.a, destinationAddress: Self.b) / TCPHeader(sourcePort: 1, destinationPort: 2)
    let fragments = try syn.ipv6Fragments(maximumSize: 1280, identification: 9)
    #expect(fragments.count == 1)
    let view = try IPv6View(validating: fragments[0][...])
    let header = IPv6FragmentHeader(view.extensionChain.headers[0].view)
    #expect(header.isAtomic)
    #expect(header.identification == 9)
    #expect(view.payloadLength == 28)
  }

  @Test func badInputIsAnError() {
    #expect(throws: PacketError.self) {
      try (IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2") / "x").ipv6Fragments(maximumSize: 100, identification: 1)
    }
    #expect(throws: PacketError.invalidField(layer: .ipv6Fragment, field: "maximumSize", value: 55)) {
      try (IPv6Header(sourceAddress: Self.a, destinationAddress: Self.b) / "x").ipv6Fragments(maximumSize: 55, identification: 1)
    }
  }
}
