import Foundation
import TestSupport
import Testing
@testable import PacketKit

/// The TCP options tcpdump prints by name, made craftable (`TCPOption.spellings`): the bytes each
/// spelling encodes to, what is refused, and what tcpdump and tshark read from those bytes.
@Suite struct TCPOptionSpellingTests {
  static let digest: [UInt8] = Array(0x00...0x0F).map { UInt8($0) &* 0x11 }

  /// Spelling → the option's bytes on the wire (kind, length, data). scapy 2.8 encodes the same
  /// bytes for `TCP(options=[("MD5", digest)])`, `("UTO", 0x8005)`, `("AO", b"\x03\x07\xa1...")`
  /// and `("TFO", cookie)` (checked when these were written; scapy has no MPTCP option name).
  static let spelled: [(String, [UInt8])] = [
    ("md5=00112233445566778899aabbccddeeff", [19, 18] + digest),
    ("uto=90", [28, 4, 0x00, 90]),
    ("uto=90s", [28, 4, 0x00, 90]),
    ("uto=5m", [28, 4, 0x80, 5]),
    ("uto=32767m", [28, 4, 0xFF, 0xFF]),
    ("ao=3:7", [29, 4, 3, 7]),
    ("ao=3:7:a1a2a3a4", [29, 8, 3, 7, 0xA1, 0xA2, 0xA3, 0xA4]),
    ("mptcp=0081", [30, 4, 0x00, 0x81]),
    ("tfo", [34, 2]),
    ("tfo=0102030405060708", [34, 10, 1, 2, 3, 4, 5, 6, 7, 8]),
    ("tfo-exp", [254, 4, 0xF9, 0x89]),
    ("TFO-EXP=c0ffee00", [254, 8, 0xF9, 0x89, 0xC0, 0xFF, 0xEE, 0x00]),
    ("sack=100-200,300-400", [5, 18, 0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 1, 0x2C, 0, 0, 1, 0x90]),
    ("mss=1460", [2, 4, 0x05, 0xB4]),
    ("wscale=7", [3, 3, 7]),
    ("sack-perm", [4, 2]),
    ("ts=1:2", [8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
    ("nop", [1]),
    ("eol", [0]),
    ("raw=254:02", [254, 0x02]),
  ]

  static func option(_ text: String) throws -> TCPOption {
    switch TCPOption.parse(spelling: text) {
    case .success(let option): return option
    case .failure(let problem): throw Failure("\(text): \(problem)")
    }
  }

  struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  @Test(arguments: spelled.indices)
  func spellingEncodesToTheWireBytes(_ index: Int) throws {
    let (text, bytes) = Self.spelled[index]
    let option = try Self.option(text)
    #expect(option.encoded == bytes, "\(text)")
    #expect(option.kind == bytes[0])
    // Decoding the bytes gives the option back (a raw one comes back as what its bytes say), and
    // re-encoding reproduces them.
    let decoded = TCPOption.decodeAll(ArraySlice(bytes))
    if case .raw = option {} else { #expect(decoded == [option], "\(text)") }
    #expect(decoded.flatMap(\.encoded) == bytes, "\(text)")
  }

  @Test(arguments: [
    "md5", "md5=0011", "md5=00112233445566778899aabbccddeeff00", "md5=zz",
    "uto", "uto=32768", "uto=5h", "uto=m", "uto=-1",
    "ao", "ao=3", "ao=256:1", "ao=1:2:xyz", "ao=1:2:" + String(repeating: "00", count: 37),
    "mptcp", "mptcp=", "mptcp=" + String(repeating: "00", count: 39),
    "tfo=123", "tfo=" + String(repeating: "00", count: 39), "tfo-exp=" + String(repeating: "00", count: 37),
    "sack=1", "sack=1-2,3", "mss", "mss=65536", "wscale=x", "ts=1", "nop=1", "sackok=1", "raw", "raw=:00",
  ])
  func badValuesAreRefusedNamingTheSpelling(_ text: String) {
    guard case .failure(.badValue(let spelling)) = TCPOption.parse(spelling: text) else {
      Issue.record("\(text) was accepted")
      return
    }
    #expect(text.lowercased().hasPrefix(spelling.name))
  }

  @Test func unknownNamesAreRefused() {
    for text in ["bogus", "md6=00", "", "=1"] {
      guard case .failure(.unknownName) = TCPOption.parse(spelling: text) else {
        Issue.record("\(text) was not refused as unknown")
        continue
      }
    }
  }

  @Test func constructorsCheckTheirLimits() {
    #expect(TCPOption.md5Signature([1]) == nil)
    #expect(TCPOption.userTimeout(0x8000, inMinutes: false) == nil)
    #expect(TCPOption.multipath([]) == nil)
    #expect(TCPOption.fastOpen(cookie: [UInt8](repeating: 0, count: 38)) != nil)
    #expect(TCPOption.fastOpenExperimental(cookie: [UInt8](repeating: 0, count: 37)) == nil)
    #expect(TCPOption.authentication(keyID: 1, nextKeyID: 2, mac: [UInt8](repeating: 0, count: 36)) != nil)
  }

  /// Every spelling is unique, and the help names each one.
  @Test func spellingsAreUnique() {
    let names = TCPOption.spellings.flatMap { [$0.name] + $0.aliases }
    #expect(Set(names).count == names.count)
    for spelling in TCPOption.spellings { #expect(spelling.syntax.hasPrefix(spelling.name)) }
  }

  /// SYNs carrying the new options, written to a pcap: tcpdump prints them by name exactly as our
  /// printer does, and tshark reads the same field values.
  @Test(.enabled(if: FormatTools.path("tcpdump") != nil, "needs tcpdump"))
  func tcpdumpAndTsharkDecodeTheCraftedOptions() throws {
    let segments: [[String]] = [
      ["md5=00112233445566778899aabbccddeeff", "uto=5m", "tfo=0102030405060708"],
      ["ao=3:7:a1a2a3a4", "mptcp=0081", "tfo-exp", "nop", "nop", "uto=90"],
      ["tfo", "nop", "nop", "tfo-exp=c0ffee00"],
    ]
    let expected = [
      "options [md5 shared secret not supplied with -M, can't check - 00112233445566778899aabbccddeeff,uto 0x8005 983160,tfo  cookie 0102030405060708]",
      "options [tcp-ao keyid 3 rnextkeyid 7 mac 0xa1a2a3a4,mptcp 4 capable v0 csum,exp-tfo cookiereq,nop,nop,uto 0x5a 45,eol]",
      "options [tfo  cookiereq,nop,nop,exp-tfo cookie c0ffee00]",
    ]
    let writer = PcapWriter(linkType: .ethernet)
    var file: [UInt8] = []
    writer.appendFileHeader(to: &file)
    var ours: [String] = []
    for (index, spellings) in segments.enumerated() {
      let packet = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", flags: .dontFragment)
        / TCPHeader(
          sourcePort: 40000, destinationPort: 9, sequenceNumber: 1000 + UInt32(index), flags: .syn, window: 65535,
          options: try spellings.map(Self.option))
      let frame = FormatTools.frame(try packet.encoded(), linkType: .ethernet)
      ours.append(dissect(ArraySlice(frame), linkType: .ethernet).summary)
      writer.appendRecord(frame, timestampSeconds: 1, to: &file)
    }
    let path = try FormatTools.writeTemporary(file, suffix: "options.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let tcpdump = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    let lines = tcpdump.stdout.split(separator: "\n").map(String.init)
    #expect(lines.count == segments.count, "\(tcpdump.stderr)")
    for (index, line) in lines.enumerated() where index < expected.count {
      #expect(line.contains(expected[index]), "tcpdump: \(line)")
      #expect(ours[index] == line, "ours: \(ours[index])")
    }
    guard FormatTools.path("tshark") != nil else { return }
    let fields = [
      "tcp.options.md5.digest", "tcp.options.user_to_granularity", "tcp.options.user_to_val",
      "tcp.options.tfo.cookie", "tcp.options.ao.keyid", "tcp.options.ao.rnextkeyid", "tcp.options.ao.mac",
      "tcp.options.mptcp.subtype", "tcp.options.mptcp.version",
    ]
    let tshark = try FormatTools.run("tshark", ["-r", path, "-T", "fields", "-E", "separator=|"] + fields.flatMap { ["-e", $0] })
    let rows = tshark.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    #expect(rows.count == segments.count, "\(tshark.stderr)")
    #expect(rows.allSatisfy { $0.count == fields.count }, "\(tshark.stdout)")
    guard rows.count == 3, rows.allSatisfy({ $0.count == fields.count }) else { return }
    // Segment 1: the MD5 digest, a user timeout of 5 minutes (G set), a Fast Open cookie.
    #expect(rows[0][0] == "00112233445566778899aabbccddeeff")
    #expect(rows[0][1] == "1" || rows[0][1].lowercased() == "true")
    #expect(rows[0][2] == "5")
    #expect(rows[0][3] == "0102030405060708")
    // Segment 2: TCP-AO key ids and MAC, MPTCP MP_CAPABLE (subtype 0) version 0, 90 seconds.
    #expect(rows[1][1] == "0" || rows[1][1].lowercased() == "false")
    #expect(rows[1][2] == "90")
    #expect(rows[1][4] == "3")
    #expect(rows[1][5] == "7")
    #expect(rows[1][6] == "a1a2a3a4")
    #expect(rows[1][7] == "0")
    #expect(rows[1][8] == "0")
    // Segment 3: the experimental form's cookie is found behind the magic.
    #expect(rows[2][3] == "c0ffee00")
  }
}
