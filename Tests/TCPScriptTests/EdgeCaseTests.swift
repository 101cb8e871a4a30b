// The catalog's crafted bytes, checked field by field by reading the wire format by hand (the
// offsets of RFC 791 §3.1 and RFC 9293 §3.1), not with the code under test.
import PacketKit
import Testing
import TestSupport
@testable import TCPScript

/// RFC 1071: the one's complement of the one's complement sum of 16-bit words.
func edgeChecksum(_ bytes: ArraySlice<UInt8>) -> UInt16 { HandBuilt.checksum(bytes) }

func edgeWord(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }
func edgeLong(_ bytes: [UInt8], _ offset: Int) -> UInt32 { UInt32(edgeWord(bytes, offset)) << 16 | UInt32(edgeWord(bytes, offset + 2)) }

/// TCP checksum over the pseudo-header (addresses from the IPv4 header, protocol 6, length).
func edgeTCPChecksumIsValid(_ packet: [UInt8]) -> Bool {
  let ihl = Int(packet[0] & 0x0F) * 4
  let segment = packet[ihl...]
  var pseudo = Array(packet[12..<20])
  pseudo += [0, 6, UInt8(segment.count >> 8), UInt8(segment.count & 0xFF)]
  return edgeChecksum((pseudo + segment)[...]) == 0
}

struct EdgeCaseTests {
  static let context = CraftContext(
    source: Endpoint(address: IPv4Address(10, 0, 0, 99), port: 40000), destination: Endpoint(address: IPv4Address(10, 0, 0, 2), port: 8080),
    sequence: 0x1000_0000, acknowledgment: 0x2000_0000, peerWindow: 1000, identification: 0x1234)

  func bytes(_ name: String, context: CraftContext = EdgeCaseTests.context) throws -> [[UInt8]] {
    let edgeCase = try #require(EdgeCaseCatalog.named(name), "case \(name) exists")
    return try edgeCase.craft(context).encoded()
  }

  @Test("At least 30 cases, unique names, each with an RFC, a rule and something to send")
  func catalogShape() throws {
    let all = EdgeCaseCatalog.all
    #expect(all.count >= 30)
    #expect(Set(all.map(\.name)).count == all.count)
    for edgeCase in all {
      #expect(edgeCase.rfc.hasPrefix("RFC "), "\(edgeCase.name)")
      #expect(!edgeCase.rule.isEmpty && !edgeCase.summary.isEmpty)
      #expect(!(try edgeCase.craft(Self.context).encoded()).isEmpty, "\(edgeCase.name) builds")
    }
    // The cases the issue names are all there.
    for name in [
      "tcp-bad-checksum", "tcp-data-offset-short", "tcp-data-offset-long", "tcp-option-length-0", "tcp-option-length-1",
      "tcp-option-overrun", "tcp-option-unknown", "tcp-mss-zero", "tcp-window-scale-15", "listen-syn-fin",
      "listen-syn-rst", "listen-fin", "listen-no-flags", "listen-every-flag", "listen-syn-data", "est-rst-in-window",
      "est-rst-exact", "est-syn", "est-ack-unsent", "est-seq-out-of-window", "est-zero-window-probe",
      "est-urgent-past-data", "est-paws-old-timestamp", "est-seq-wrap", "ip-bad-checksum", "ip-ihl-short",
      "ip-total-length-long", "ip-total-length-short", "ip-ttl-0", "ip-reserved-flag", "ip-tiny-fragments",
      "ip-overlapping-fragments", "ip-option-length-0", "ip-option-overrun",
    ] {
      #expect(EdgeCaseCatalog.named(name) != nil, "\(name)")
    }
    #expect(all.contains { $0.setup.kind == .closedPort })
    #expect(all.contains { $0.setup.kind == .listening })
    #expect(all.contains { $0.setup.kind == .established })
  }

  @Test("A plain SYN: addresses, ports, seq, flags, valid checksums")
  func plainSYN() throws {
    let packet = try #require(try bytes("closed-syn").first)
    #expect(packet[0] == 0x45)
    #expect(edgeChecksum(packet[0..<20]) == 0)
    #expect(edgeLong(packet, 12) == 0x0A00_0063 && edgeLong(packet, 16) == 0x0A00_0002)
    #expect(edgeWord(packet, 20) == 40000 && edgeWord(packet, 22) == 8080)
    #expect(edgeLong(packet, 24) == 0x1000_0000)
    #expect(packet[33] == 0x02)  // SYN only
    #expect(edgeTCPChecksumIsValid(packet))
  }

  @Test("Bad TCP checksum: the sum fails, everything else is right")
  func badTCPChecksum() throws {
    let packet = try #require(try bytes("tcp-bad-checksum").first)
    #expect(edgeChecksum(packet[0..<20]) == 0)
    #expect(!edgeTCPChecksumIsValid(packet))
  }

  @Test("Data offset 4 and 15 are written verbatim over a 20-byte header")
  func dataOffsets() throws {
    let short = try #require(try bytes("tcp-data-offset-short").first)
    #expect(short[32] >> 4 == 4 && short.count == 40)
    let long = try #require(try bytes("tcp-data-offset-long").first)
    #expect(long[32] >> 4 == 15 && long.count == 40)
    #expect(edgeTCPChecksumIsValid(long), "only the offset lies")
  }

  @Test("Option lengths 0, 1 and overrunning are on the wire as crafted")
  func optionLengths() throws {
    let zero = try #require(try bytes("tcp-option-length-0").first)
    #expect(zero[32] >> 4 == 6 && zero[40] == 99 && zero[41] == 0)
    let one = try #require(try bytes("tcp-option-length-1").first)
    #expect(one[40] == 2 && one[41] == 1)
    let overrun = try #require(try bytes("tcp-option-overrun").first)
    #expect(overrun[40] == 2 && overrun[41] == 40 && overrun.count == 44)
    #expect(edgeTCPChecksumIsValid(overrun))
  }

  @Test("Every flag, and none")
  func flagExtremes() throws {
    let every = try #require(try bytes("listen-every-flag").first)
    #expect(every[32] & 0x01 == 0x01 && every[33] == 0xFF, "NS and the eight others")
    let none = try #require(try bytes("listen-no-flags").first)
    #expect(none[32] & 0x01 == 0 && none[33] == 0)
  }

  @Test("RSTs in a connection: exact at RCV.NXT, inside the window, far outside")
  func resetsInAConnection() throws {
    let exact = try #require(try bytes("est-rst-exact").first)
    #expect(exact[33] == 0x04 && edgeLong(exact, 24) == 0x1000_0000)
    let inside = try #require(try bytes("est-rst-in-window").first)
    #expect(edgeLong(inside, 24) == 0x1000_0000 + 500, "half the peer's window of 1000")
    let outside = try #require(try bytes("est-rst-out-of-window").first)
    #expect(edgeLong(outside, 24) == 0x5000_0000)
  }

  @Test("ACK of unsent data and PAWS use the connection's numbers")
  func acknowledgmentsAndTimestamps() throws {
    let unsent = try #require(try bytes("est-ack-unsent").first)
    #expect(edgeLong(unsent, 28) == 0x2000_0000 + 1000)
    var context = Self.context
    context.timestampValue = 500_000
    context.timestampEcho = 77
    let paws = try #require(try bytes("est-paws-old-timestamp", context: context).first)
    // nop, nop, kind 8 length 10, TSval, TSecr
    #expect(Array(paws[40..<44]) == [1, 1, 8, 10])
    #expect(edgeLong(paws, 44) == 400_000 && edgeLong(paws, 48) == 77)
    let missing = try #require(try bytes("est-missing-timestamp", context: context).first)
    #expect(missing[32] >> 4 == 5, "no options at all")
  }

  @Test("IPv4 header cases: checksum, IHL, version, lengths, TTL, reserved flag")
  func ipv4Headers() throws {
    let badChecksum = try #require(try bytes("ip-bad-checksum").first)
    #expect(edgeChecksum(badChecksum[0..<20]) != 0)
    #expect(edgeTCPChecksumIsValid(badChecksum))
    let ihl = try #require(try bytes("ip-ihl-short").first)
    #expect(ihl[0] == 0x44)
    let version = try #require(try bytes("ip-version-5").first)
    #expect(version[0] == 0x55)
    let long = try #require(try bytes("ip-total-length-long").first)
    #expect(Int(edgeWord(long, 2)) == long.count + 20)
    let short = try #require(try bytes("ip-total-length-short").first)
    #expect(Int(edgeWord(short, 2)) == short.count - 16 && short.suffix(16).allSatisfy { $0 == 0xEE })
    #expect(edgeTCPChecksumIsValid(Array(short.dropLast(16))))
    let ttl = try #require(try bytes("ip-ttl-0").first)
    #expect(ttl[8] == 0 && edgeChecksum(ttl[0..<20]) == 0)
    let reserved = try #require(try bytes("ip-reserved-flag").first)
    #expect(reserved[6] & 0x80 == 0x80)
  }

  @Test("Fragments: offsets, MF, one ID, and pieces that rebuild the segment")
  func fragments() throws {
    let tiny = try bytes("ip-tiny-fragments")
    #expect(tiny.count == 2)
    #expect(edgeWord(tiny[0], 6) == 0x2000, "MF, offset 0")
    #expect(edgeWord(tiny[1], 6) == 0x0001, "no MF, offset 1 (8 bytes)")
    #expect(edgeWord(tiny[0], 4) == edgeWord(tiny[1], 4))
    #expect(tiny[0].count == 28 && tiny[0][9] == 6)
    let segment = Array(tiny[0][20...]) + Array(tiny[1][20...])
    var whole = Array(tiny[0][0..<20])
    whole[2] = 0
    whole[3] = UInt8(20 + segment.count)
    #expect(edgeTCPChecksumIsValid(whole + segment), "the pieces rebuild a valid segment")
    let overlap = try bytes("ip-overlapping-fragments")
    #expect(overlap[0].count == 36 && edgeWord(overlap[1], 6) == 1)
    #expect(Array(overlap[0][28..<36]) == Array(overlap[1][20..<28]), "the overlap is identical")
  }

  @Test("Sequence wrap: the case asks for an ISN 16 below 2^32 and sends 32 bytes")
  func sequenceWrap() throws {
    let edgeCase = try #require(EdgeCaseCatalog.named("est-seq-wrap"))
    #expect(edgeCase.setup.initialSequence == 0xFFFF_FFF0)
    var context = Self.context
    context.sequence = 0xFFFF_FFF1
    let crafted = edgeCase.craft(context)
    #expect(crafted.reference.sequence &+ crafted.reference.length == 0x11)
  }

  @Test("IPv4 options: record route of length 0 and 39, and an unknown kind")
  func ipOptions() throws {
    let zero = try #require(try bytes("ip-option-length-0").first)
    #expect(zero[0] == 0x46 && zero[20] == 7 && zero[21] == 0)
    let overrun = try #require(try bytes("ip-option-overrun").first)
    #expect(overrun[20] == 7 && overrun[21] == 39)
    let unknown = try #require(try bytes("ip-option-unknown").first)
    #expect(Array(unknown[20..<24]) == [30, 4, 0, 0])
  }

  @Test("Option lengths on both sides of the 18-byte rule: 4 option bytes from the bad option, or 20")
  func optionAreas() throws {
    func options(_ name: String) throws -> [UInt8] {
      let packet = try #require(try bytes(name).first)
      let offset = Int(packet[20 + 12] >> 4) * 4
      return Array(packet[40..<(20 + offset)])
    }
    #expect(try options("tcp-option-length-0") == [99, 0, 0, 0])
    #expect(try options("tcp-option-length-0-long") == [99, 0] + Array(repeating: 1, count: 18))
    #expect(try options("tcp-mss-length-0-long") == [2, 0] + Array(repeating: 1, count: 18))
    #expect(try options("tcp-option-overrun-long") == [99, 40] + Array(repeating: 1, count: 18))
    let last = try options("tcp-option-bad-last")
    #expect(last.count == 20 && Array(last.prefix(4)) == [2, 4, 0x05, 0xB4] && Array(last.suffix(4)) == [30, 1, 0, 0])
    let data = try #require(try bytes("est-option-length-0-long").first)
    #expect(Array(data[40..<60]) == [99, 0] + Array(repeating: 1, count: 18) && data.count == 68)
  }

  @Test("Established: no flags, every flag at RCV.NXT, a pure ACK of unsent data, an old duplicate")
  func newEstablishedCases() throws {
    let c = Self.context
    let none = try #require(try bytes("est-no-flags").first)
    #expect(none[33] == 0 && edgeLong(none, 24) == c.sequence && none.count == 48)
    let every = try #require(try bytes("est-every-flag").first)
    #expect(every[33] == 0xFF && every[32] & 0x01 == 1 && edgeLong(every, 24) == c.sequence)
    let pure = try #require(try bytes("est-pure-ack-unsent").first)
    #expect(pure[33] == 0x10 && pure.count == 40 && edgeLong(pure, 28) == c.acknowledgment &+ 1000)
    let old = try #require(try bytes("est-old-duplicate").first)
    #expect(edgeLong(old, 24) == c.sequence &- 8 && Array(old[40...]) == Array("tcpcraft".utf8))
    #expect(EdgeCaseCatalog.named("est-old-duplicate")?.setup.preload == 8)
  }

  @Test("IPv4: a total length that ends inside the TCP header; a duplicate first fragment, corrupted")
  func newIPv4Cases() throws {
    let short = try #require(try bytes("ip-total-length-into-tcp").first)
    #expect(edgeWord(short, 2) == 30 && short.count == 44)
    #expect(edgeChecksum(short[0..<20]) == 0, "the header checksum covers the short total length")
    let pieces = try bytes("ip-duplicate-fragment")
    #expect(pieces.count == 3)
    #expect(edgeWord(pieces[0], 6) == 0x2000 && edgeWord(pieces[1], 6) == 0x2000 && edgeWord(pieces[2], 6) == 2)
    #expect(Array(pieces[0][20..<34]) == Array(pieces[1][20..<34]))
    #expect(pieces[0][34] == pieces[1][34] ^ 0xFF, "the second copy differs in the window's first byte")
    #expect(pieces[0].count == 36 && pieces[1].count == 36)
  }
}
