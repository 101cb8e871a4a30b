import PacketKit
import Testing
@testable import TCPScript

/// Pairing the packets read from the tun with the packet socket's stamped copies: a copy pairs
/// with the same IP packet whatever its checksums (offloads leave them partial on one side), in
/// the tun's order, and a packet without a usable copy keeps its read time.
@Suite struct ScriptOutboundTimestampTests {
  func segment(seq: UInt32, flags: TCPFlags = .ack, payload: [UInt8] = []) throws -> [UInt8] {
    try (IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1))
      / TCPHeader(
        sourcePort: 8080, destinationPort: 40000, sequenceNumber: seq, acknowledgmentNumber: 2, flags: flags, window: 1)
      / payload).encoded()
  }

  /// The checksum fields (IPv4 header 10-11, TCP 36-37 with a 20-byte IP header) zeroed, as a
  /// partial-checksum copy may differ from the finished packet.
  func withChecksums(_ bytes: [UInt8], _ ip: UInt8, _ tcp: UInt8) -> [UInt8] {
    var copy = bytes
    copy[10] = ip
    copy[11] = ip
    copy[36] = tcp
    copy[37] = tcp
    return copy
  }

  @Test func checksumsAsideTheSamePacketMatches() throws {
    let packet = try segment(seq: 1, payload: [1, 2, 3])
    #expect(OutboundTimestamps.sameSegment(withChecksums(packet, 0, 0xAB), packet))
    var other = packet
    other[other.count - 1] ^= 0xFF
    #expect(!OutboundTimestamps.sameSegment(other, packet))
    #expect(!OutboundTimestamps.sameSegment(try segment(seq: 2, payload: [1, 2, 3]), packet))
    #expect(!OutboundTimestamps.sameSegment(Array(packet.dropLast()), packet))
    #expect(!OutboundTimestamps.sameSegment([], packet))
  }

  @Test func packetsTakeTheirCopysTimeInOrder() throws {
    let first = try segment(seq: 1), second = try segment(seq: 1, flags: [.ack, .fin]), third = try segment(seq: 2)
    // A copy the tun never gave (dropped from its queue) is skipped and forgotten.
    var stamps = OutboundTimestamps(copies: [(first, 100), (second, 250), (third, 400)])
    #expect(stamps.time(of: first, readTime: 900) == 100)
    #expect(stamps.time(of: third, readTime: 900) == 400)
    #expect(stamps.time(of: second, readTime: 950) == 950)
    #expect(stamps.stamped == 2 && stamps.unstamped == 1)
  }

  @Test func noUsableStampKeepsTheReadTime() throws {
    let packet = try segment(seq: 1)
    // No stamp (a clock step), and a stamp after the read (impossible): the read time stands.
    var stamps = OutboundTimestamps(copies: [(packet, Int64.min), (packet, 2_000)])
    #expect(stamps.time(of: packet, readTime: 1_000) == 1_000)
    #expect(stamps.time(of: packet, readTime: 1_000) == 1_000)
    #expect(stamps.unstamped == 2)
  }
}
