// Capture filters on IPv6 frames (extension headers, fragments, ICMPv6), against expectations
// written by hand and against libpcap's programs for the same text (tcpdump -dd).
import PacketKit
import RawSocket
import TCPScript
import Testing
import TestSupport

@Suite("Capture filter programs on IPv6 frames")
struct CaptureFilterIPv6Tests {
  static let a: IPv6Address = "2001:db8::1"
  static let b: IPv6Address = "2001:db8::2"
  static let ethernet = EthernetHeader(
    destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1), etherType: .ipv6)

  static func frame(_ packet: Packet) -> [UInt8] {
    (try? (ethernet / packet).encoded()) ?? []
  }

  static var frames: [[UInt8]] {
    let ip = IPv6Header(sourceAddress: a, destinationAddress: b)
    let syn = TCPHeader(sourcePort: 40000, destinationPort: 8080, flags: .syn)
    return [
      // 0: 2001:db8::1.40000 > 2001:db8::2.8080: Flags [S]
      frame(ip / syn),
      // 1: the same SYN after a Fragment header (first fragment)
      frame(ip / IPv6FragmentHeader(identification: 1, moreFragments: true) / syn),
      // 2: the same SYN after a Hop-by-Hop header
      frame(ip / IPv6OptionsHeader.hopByHop([.routerAlert(0)]) / syn),
      // 3: ICMP6 echo request
      frame(ip / ICMPv6Header.echoRequest(identifier: 1, sequenceNumber: 1)),
      // 4: ICMP6 echo request after a Fragment header
      frame(ip / IPv6FragmentHeader(identification: 2) / ICMPv6Header.echoRequest(identifier: 1, sequenceNumber: 2)),
      // 5: 2001:db8::2.53 > 2001:db8::1.5353: UDP
      frame(IPv6Header(sourceAddress: b, destinationAddress: a) / UDPHeader(sourcePort: 53, destinationPort: 5353)),
      // 6: ::1.1 > ::1.8080 RST
      frame(IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback)
        / TCPHeader(sourcePort: 1, destinationPort: 8080, flags: .rst)),
      // 7: IP 10.0.0.1.40000 > 10.0.0.2.8080: Flags [S]
      (try? (EthernetHeader(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1), etherType: .ipv4)
        / IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2") / syn).encoded()) ?? [],
    ]
  }

  static let expectations: [(String, Set<Int>)] = [
    ("ip6", [0, 1, 2, 3, 4, 5, 6]),
    ("not ip6", [7]),
    ("tcp", [0, 1, 6, 7]),  // directly or after a Fragment header, not after Hop-by-Hop
    ("udp", [5]),
    ("icmp6", [3, 4]),
    ("icmp", []),
    ("port 8080", [0, 6, 7]),  // IPv6 ports only right after the fixed header
    ("tcp port 8080", [0, 6, 7]),
    ("ip6 and tcp port 8080", [0, 6]),
    ("port 53", [5]),
    ("dst port 5353", [5]),
    ("host 2001:db8::1", [0, 1, 2, 3, 4, 5]),
    ("src host 2001:db8::2", [5]),
    ("dst 2001:db8::2", [0, 1, 2, 3, 4]),
    ("ip6 host ::1", [6]),
    ("host ::1 or 2001:db8::2", [0, 1, 2, 3, 4, 5, 6]),
    ("tcp[tcpflags] & tcp-syn != 0", [7]),  // IPv4 only, as libpcap
  ]

  @Test(arguments: expectations)
  func keepsExactlyTheseFrames(text: String, expected: Set<Int>) throws {
    let frames = Self.frames
    #expect(frames.allSatisfy { !$0.isEmpty })
    let program = try CaptureFilter(parsing: text).compile(for: .ethernet)
    #expect(program.validationProblem() == nil)
    #expect(FilterFixtures.kept(by: program, frames: frames, indices: frames.indices) == expected, "\(text)\n\(program)")
  }

  @Test(
    "Same IPv6 frames kept as libpcap's program",
    .enabled(if: Privileges.haveTool("tcpdump") && Privileges.shouldRun(.netRaw, .netAdmin), "needs tcpdump and root"),
    arguments: expectations.map(\.0))
  func agreesWithLibpcap(text: String) throws {
    try FilterFixtures.expectSameAsLibpcap(text, linkType: .ethernet, frames: Self.frames, indices: Self.frames.indices)
  }

  @Test func rawLinkTypeReadsTheVersionNibble() throws {
    let stripped = Self.frames.map { Array($0.dropFirst(14)) }
    let program = try CaptureFilter(parsing: "ip6 and tcp").compile(for: .rawIPv4)
    #expect(FilterFixtures.kept(by: program, frames: stripped, indices: stripped.indices) == [0, 1, 6])
  }

  @Test func badIPv6AddressIsOneClearError() {
    #expect(throws: CaptureFilterError(column: 6, message: "expected an IPv6 address (like fe80::1), found '1::2::3'")) {
      try CaptureFilter(parsing: "host 1::2::3")
    }
  }
}
