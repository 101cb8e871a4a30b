import PacketKit
import Testing
@testable import TCPScript

struct GeneratorTests {
  static let generator = SegmentGenerator(
    source: Endpoint(address: .loopback, port: 40000), destination: Endpoint(address: .loopback, port: 8080))

  @Test("SplitMix64 gives the published reference outputs")
  func splitMixReference() {
    // Reference values of SplitMix64 (Steele, Lea, Flood), seed 0, as published with the algorithm.
    var zero = SplitMix64(seed: 0)
    #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    #expect(zero.next() == 0x6E78_9E6A_A1B9_65F4)
    #expect(zero.next() == 0x06C4_5D18_8009_454F)
  }

  @Test("A walk sets the field to each boundary value, on the wire")
  func dataOffsetWalk() throws {
    let segments = Self.generator.walk(.dataOffset)
    #expect(segments.map(\.value) == [0, 1, 4, 5, 6, 14, 15])
    for segment in segments {
      let bytes = try segment.packet.encoded()
      #expect(UInt64(bytes[32] >> 4) == segment.value, "\(segment.label)")
    }
  }

  @Test("Sequence walk crosses 2^31 and 2^32")
  func sequenceWalk() throws {
    let values = try Self.generator.walk(.sequenceNumber).map { segment -> UInt32 in
      let bytes = try segment.packet.encoded()
      return edgeLong(bytes, 24)
    }
    #expect(values == [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFE, 0xFFFF_FFFF])
  }

  @Test("IPv4 fields: TTL, IHL, total length, flags, checksum go on the wire as set")
  func ipWalks() throws {
    for segment in Self.generator.walk(.ipTimeToLive) {
      #expect(UInt64(try segment.packet.encoded()[8]) == segment.value)
    }
    for segment in Self.generator.walk(.ipIHL) {
      #expect(UInt64(try segment.packet.encoded()[0] & 0x0F) == segment.value)
    }
    for segment in Self.generator.walk(.ipTotalLength) {
      #expect(UInt64(edgeWord(try segment.packet.encoded(), 2)) == segment.value)
    }
    for segment in Self.generator.walk(.ipFlags) {
      #expect(UInt64(try segment.packet.encoded()[6] >> 5) == segment.value)
    }
  }

  @Test("Every field's walk encodes (or fails with a typed error, never a trap)")
  func walkAllEncodes() {
    let all = Self.generator.walkAll()
    #expect(all.count == SegmentField.allCases.map(\.boundaryValues.count).reduce(0, +))
    var encoded = 0
    for segment in all where (try? segment.packet.encoded()) != nil { encoded += 1 }
    #expect(encoded == all.count)
  }

  @Test("Random mode: the same seed gives the same bytes, another seed others")
  func randomDeterminism() throws {
    var first = SplitMix64(seed: 42)
    var again = SplitMix64(seed: 42)
    var other = SplitMix64(seed: 43)
    let a = try Self.generator.random(count: 50, using: &first).map { try $0.packet.encoded() }
    let b = try Self.generator.random(count: 50, using: &again).map { try $0.packet.encoded() }
    let c = try Self.generator.random(count: 50, using: &other).map { try $0.packet.encoded() }
    #expect(a == b)
    #expect(a != c)
    #expect(a.count == 50)
  }

  @Test("Random mode keeps to the fields asked for")
  func randomFields() {
    var random = SplitMix64(seed: 9)
    let segments = Self.generator.random(count: 40, fields: [.window, .urgentPointer], using: &random)
    #expect(segments.allSatisfy { $0.field == .window || $0.field == .urgentPointer })
    #expect(segments.allSatisfy { $0.value <= 0xFFFF })
  }
}
