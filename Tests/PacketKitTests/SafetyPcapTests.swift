import PacketKit
import Testing

/// Issue 11: a pcap file's own header must not raise the reader's per-record limit (a header with
/// a 1 GiB snap length and a record claiming 512 MiB made the reader wait to buffer it all).
@Suite struct SafetyPcapTests {
  static func file(snapLength: UInt32, recordClaims captured: UInt32) -> [UInt8] {
    var bytes: [UInt8] = []
    func word(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    func half(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    word(0xA1B2_C3D4)
    half(2)
    half(4)
    word(0)
    word(0)
    word(snapLength)
    word(1)  // Ethernet
    word(0)
    word(0)
    word(captured)
    word(captured)
    bytes.append(contentsOf: [UInt8](repeating: 0, count: 64))
    return bytes
  }

  @Test func aHugeSnapLengthDoesNotRaiseTheRecordLimit() {
    var reader = PcapReader()
    reader.append(Self.file(snapLength: 0x4000_0000, recordClaims: 0x2000_0000))
    #expect(throws: PcapError.self) { _ = try reader.next() }
  }

  @Test func recordsWithinTheLimitStillRead() throws {
    var reader = PcapReader()
    reader.append(Self.file(snapLength: 0x4000_0000, recordClaims: 64))
    let record = try #require(try reader.next())
    #expect(record.data.count == 64)
  }
}
