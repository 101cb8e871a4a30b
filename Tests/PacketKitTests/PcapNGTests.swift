import PacketKit
import Testing

/// The pcapng writer: block layout by hand, comments read back, our reader and PcapReader agree,
/// and a malformed file is an error, not a trap.
@Suite struct PcapNGTests {
  static func little32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
  }

  static func file(comments: [String?]) -> [UInt8] {
    let writer = PcapNGWriter(linkType: .raw, application: "tcpcraft")
    var file: [UInt8] = []
    writer.appendHeader(to: &file)
    for (index, comment) in comments.enumerated() {
      writer.appendPacket(
        [0x45, 0, 0, 20, UInt8(index), 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0xAB],
        timestampSeconds: 1_632_206_150, timestampNanoseconds: 265_450_123, comment: comment, to: &file)
    }
    return file
  }

  @Test func blocksAreLaidOutAsTheSpecSays() {
    let bytes = Self.file(comments: ["the SYN"])
    // Section header: type, length, byte-order magic, version 1.0, section length -1.
    #expect(Self.little32(bytes, 0) == 0x0A0D_0D0A)
    let shbLength = Int(Self.little32(bytes, 4))
    #expect(Self.little32(bytes, 8) == 0x1A2B_3C4D)
    #expect(bytes[12] == 1 && bytes[13] == 0 && bytes[14] == 0 && bytes[15] == 0)
    #expect(bytes[16..<24].allSatisfy { $0 == 0xFF })
    #expect(Self.little32(bytes, shbLength - 4) == UInt32(shbLength))  // trailing length
    // Interface description: LINKTYPE_RAW (101), nanosecond resolution.
    let idb = shbLength
    #expect(Self.little32(bytes, idb) == 1)
    #expect(bytes[idb + 8] == 101 && bytes[idb + 9] == 0)
    let idbLength = Int(Self.little32(bytes, idb + 4))
    // Enhanced packet: 21 bytes captured, padded to 24, then the comment option.
    let epb = idb + idbLength
    #expect(Self.little32(bytes, epb) == 6)
    let stamp = UInt64(Self.little32(bytes, epb + 12)) << 32 | UInt64(Self.little32(bytes, epb + 16))
    #expect(stamp == 1_632_206_150_265_450_123)
    #expect(Self.little32(bytes, epb + 20) == 21 && Self.little32(bytes, epb + 24) == 21)
    let option = epb + 28 + 24
    #expect(bytes[option] == 1 && bytes[option + 1] == 0)  // opt_comment
    #expect(bytes[option + 2] == 7 && bytes[option + 3] == 0)
    #expect(Array(bytes[(option + 4)..<(option + 11)]) == Array("the SYN".utf8))
    #expect(bytes.count % 4 == 0)
    #expect(Int(Self.little32(bytes, epb + 4)) == bytes.count - epb)
  }

  @Test func commentsReadBack() throws {
    let comments = ["#1 SYN | us: CLOSED → SYN-SENT | peer: LISTEN → SYN-RECEIVED", nil, "ü 2·MSL"]
    let packets = try PcapNGReader.packets(Self.file(comments: comments))
    #expect(packets.count == 3)
    #expect(packets.map { $0.comments.first } == comments)
    #expect(packets[1].data.count == 21 && packets[1].data[4] == 1)
  }

  @Test func pcapReaderReadsOurFiles() throws {
    var reader = PcapReader()
    reader.append(Self.file(comments: ["a", "b"]))
    var records: [PcapRecord] = []
    while let record = try reader.next() { records.append(record) }
    try reader.finish()
    #expect(records.count == 2)
    #expect(records.first?.timestampSeconds == 1_632_206_150)
    #expect(records.first?.linkType == .raw)
  }

  @Test func truncatedOrCorruptFilesAreErrors() {
    let bytes = Self.file(comments: ["a comment"])
    for cut in [5, 30, bytes.count - 3] {
      #expect(throws: PcapError.self) { try PcapNGReader.packets(Array(bytes.prefix(cut))) }
    }
    var corrupt = bytes
    corrupt[8] = 0  // byte-order magic
    #expect(throws: PcapError.self) { try PcapNGReader.packets(corrupt) }
  }
}
