// What the compiled programs keep, run on hand-written frames: against expectations written by
// hand, and against libpcap's own programs for the same text (tcpdump -dd).
import Testing
import TestSupport
import PacketKit
import RawSocket
import TCPScript

@Suite("Capture filter programs on hand-written frames")
struct CaptureFilterCompileTests {
  /// Expression, and the fixture frames (FilterFixtures.frames indices) it must keep, by hand.
  static let expectations: [(String, Set<Int>)] = [
    ("", Set(0..<12)),
    ("tcp", [0, 1, 2, 3, 6, 7, 9, 10, 11]),
    ("udp", [4]),
    ("icmp", [5]),
    ("ip", [0, 1, 2, 3, 4, 5, 6, 7, 10, 11]),
    ("not ip", [8, 9]),
    ("host 10.0.0.3", [4, 5]),
    ("src host 10.0.0.1", [0, 2, 5, 6, 7]),
    ("dst host 10.0.0.1", [1, 3, 4, 10]),
    ("src 10.0.0.2", [1, 3, 10]),
    ("port 80", [0, 1, 2, 3, 9, 10]),
    ("src port 80", [1, 3, 10]),
    ("dst port 443", [6]),
    ("port 53", [4]),
    ("tcp port 443", [6]),
    ("udp port 80", []),
    ("tcp[tcpflags] & tcp-syn != 0", [0, 1]),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", [0]),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)", [1]),
    ("tcp[tcpflags] & (tcp-rst|tcp-fin) != 0", [3, 10]),
    ("tcp[13] & 8 != 0", [6]),
    ("tcp[tcpflags] == tcp-ack", [2]),
    ("not tcp", [4, 5, 8]),
    // A load past the end of frame 11 ends the whole program with "drop", negated or not.
    ("! port 80", [4, 5, 6, 7, 8]),
    ("tcp and not port 80", [6, 7]),
    ("udp or icmp", [4, 5]),
    ("udp || icmp", [4, 5]),
    ("not (tcp or udp)", [5, 8]),
    // Left to right, same precedence: (icmp or src port 53) and udp.
    ("icmp or src port 53 and udp", [4]),
    ("icmp or (src port 53 and udp)", [4, 5]),
    ("host 10.0.0.3 or 10.0.0.2", [0, 1, 2, 3, 4, 5, 6, 7, 10]),
    ("port 80 or 443", [0, 1, 2, 3, 6, 9, 10]),
    ("(tcp[tcpflags] & tcp-fin != 0) or (tcp[tcpflags] & tcp-rst != 0)", [3, 10]),
    ("tcp && dst host 10.0.0.2 && !(tcp[tcpflags] & tcp-syn != 0)", [2, 6, 7]),
    // IPv6 (frame 9: fe80::1.40000 > fe80::2.80, SYN), as libpcap reads these.
    ("ip6", [9]),
    ("not ip6", [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]),
    ("ip6 and tcp port 80", [9]),
    ("ip6 host fe80::1", [9]),
    ("host fe80::2", [9]),
    ("src host fe80::1", [9]),
    ("dst host fe80::1", []),
    ("host fe80::3 or fe80::2", [9]),
    ("ip6 and src port 40000", [9]),
    ("icmp6", []),
    ("tcp[tcpflags] & tcp-syn != 0 or ip6", [0, 1, 9]),
  ]

  @Test(arguments: expectations)
  func ethernetProgramKeepsExactlyTheseFrames(text: String, expected: Set<Int>) throws {
    let program = try CaptureFilter(parsing: text).compile(for: .ethernet)
    #expect(program.validationProblem() == nil)
    let kept = FilterFixtures.kept(by: program, frames: FilterFixtures.frames, indices: 0..<12)
    #expect(kept == expected, "\(text)\n\(program)")
  }

  @Test(arguments: expectations)
  func rawIPv4ProgramKeepsTheSameIPv4Frames(text: String, expected: Set<Int>) throws {
    let program = try CaptureFilter(parsing: text).compile(for: .rawIPv4)
    let stripped = FilterFixtures.frames.map { Array($0.dropFirst(14)) }
    let indices = FilterFixtures.ipv4Indices
    let kept = FilterFixtures.kept(by: program, frames: stripped, indices: indices)
    #expect(kept == expected.intersection(indices), "\(text)\n\(program)")
  }

  @Test func handWrittenProgramForTcp() throws {
    // What `tcp` must compile to on Ethernet, written out by hand: IPv4 protocol 6, or IPv6
    // next header 6 directly or after a Fragment header (44), as libpcap's.
    let expected = BPFProgram([
      .load(size: BPFOpcode.halfword, absolute: 12),
      .jump(BPFOpcode.equal, 0x0800, ifTrue: 0, ifFalse: 2),
      .load(size: BPFOpcode.byte, absolute: 23),
      .jump(BPFOpcode.equal, 6, ifTrue: 7, ifFalse: 8),
      .load(size: BPFOpcode.halfword, absolute: 12),
      .jump(BPFOpcode.equal, 0x86DD, ifTrue: 0, ifFalse: 6),
      .load(size: BPFOpcode.byte, absolute: 20),
      .jump(BPFOpcode.equal, 6, ifTrue: 3, ifFalse: 0),
      .jump(BPFOpcode.equal, 44, ifTrue: 0, ifFalse: 3),
      .load(size: BPFOpcode.byte, absolute: 54),
      .jump(BPFOpcode.equal, 6, ifTrue: 0, ifFalse: 1),
      .return(262_144),
      .return(0),
    ])
    #expect(try CaptureFilter.tcp.compile() == expected)
  }

  @Test func flowFiltersKeepOneDirectionOrBoth() throws {
    let client = Endpoint(address: IPv4Address(10, 0, 0, 1), port: 40000)
    let server = Endpoint(address: IPv4Address(10, 0, 0, 2), port: 80)
    let frames = FilterFixtures.frames
    // What the client's flow receives: the server's segments to it (frames 1, 3, 10).
    let incoming = try CaptureFilter.segments(from: server, to: client).compile()
    #expect(FilterFixtures.kept(by: incoming, frames: frames, indices: 0..<12) == [1, 3, 10])
    // A listener waiting for any peer: everything to port 80 of 10.0.0.2 (frames 0 and 2).
    let listening = try CaptureFilter.segments(from: Endpoint(address: IPv4Address.any, port: 0), to: server).compile()
    #expect(FilterFixtures.kept(by: listening, frames: frames, indices: 0..<12) == [0, 2])
    // Both directions of the connection, as `tcp and host A and port P and host B and port Q`.
    let both = try CaptureFilter.flow(between: client, and: server).compile()
    #expect(FilterFixtures.kept(by: both, frames: frames, indices: 0..<12) == [0, 1, 2, 3, 10])
    let parsed = try CaptureFilter(parsing: "tcp and host 10.0.0.1 and port 40000 and host 10.0.0.2 and port 80").compile()
    #expect(FilterFixtures.kept(by: parsed, frames: frames, indices: 0..<12) == [0, 1, 2, 3, 10])
  }

  @Test func portTestsReadThePortsAfterTheIPv4Options() throws {
    let program = try CaptureFilter.port(443).compile()
    #expect(program.instructions.contains(.loadIPv4HeaderLength(at: 14)))
    // Only first fragments: ldh [20] (flags + fragment offset), jset #0x1fff -> drop.
    #expect(program.instructions.contains(.load(size: BPFOpcode.halfword, absolute: 20)))
    #expect(program.instructions.contains { $0.code == BPFOpcode.jump | BPFOpcode.anySet && $0.k == 0x1FFF })
  }

  @Test func tooLargeFiltersAreAnErrorNotATrap() throws {
    var filter: CaptureFilter = .port(1)
    for port in 2...200 { filter = filter || .port(UInt16(port)) }
    #expect(throws: CaptureFilterError.self) { try filter.compile() }
  }

  /// Our programs and libpcap's (from `tcpdump -dd`) keep the same frames, the IPv6 one
  /// (frame 9) included.
  @Test(
    "Same frames kept as libpcap's program",
    .enabled(if: Privileges.haveTool("tcpdump") && Privileges.shouldRun(.netRaw, .netAdmin), "needs tcpdump and root"),
    arguments: expectations.map(\.0).filter { !$0.isEmpty })
  func agreesWithLibpcap(text: String) throws {
    try FilterFixtures.expectSameAsLibpcap(text, linkType: .ethernet, frames: FilterFixtures.frames, indices: 0..<12)
    let stripped = FilterFixtures.frames.map { Array($0.dropFirst(14)) }
    try FilterFixtures.expectSameAsLibpcap(text, linkType: .rawIPv4, frames: stripped, indices: FilterFixtures.ipv4Indices)
  }
}
