import Foundation
import PacketKit
import Testing

@testable import tcpcraft

@Suite("tcpcraft decode")
struct DecodeCommandTests {
  struct Run {
    var status: Int32
    var out: [String]
    var err: [String]
  }

  static func decode(_ arguments: [String]) -> Run {
    var out: [String] = []
    var err: [String] = []
    let status = DecodeCommand.run(arguments, output: { out.append($0) }, error: { err.append($0) })
    return Run(status: status, out: out, err: err)
  }

  // IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0 (made with scapy)
  static let syn = "4500002800010000400666cd0a0000010a00000204d210e1000000070000000050022000 6626 0000"
  // The same with its TCP checksum set to 0x1234.
  static let badSyn = "4500002800010000400666cd0a0000010a00000204d210e10000000700000000500220001234 0000"

  @Test func hexPackets() {
    let run = Self.decode([Self.syn, Self.badSyn, "00:11:22:33:44:55:66:77:88:99:aa:bb:08:00:" + Self.syn.replacingOccurrences(of: " ", with: "")])
    #expect(run.status == 0)
    #expect(run.out == [
      "IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0",
      "IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0 [bad tcp cksum 0x1234 -> 0x6626]",
      "IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0",
    ])
    #expect(run.err.isEmpty)
  }

  @Test func linkTypeIPv6() {
    // IP6 ::1.40000 > ::1.8080: Flags [S], seq 1000, win 65535, options [mss 1440,nop,wscale 7], length 0
    // (scapy; the fixture v6TcpSyn of PacketKitTests)
    let v6 = "6000000000 1c0640 00000000000000000000000000000001 00000000000000000000000000000001"
      + " 9c401f90000003e80000000070 02ffffc4720000020405a0010303 07"
    for name in ["ipv6", "ip6", "229"] {
      let run = Self.decode(["--link-type", name, v6])
      #expect(run.status == 0, "\(name): \(run.err)")
      #expect(run.out == ["IP6 ::1.40000 > ::1.8080: Flags [S], seq 1000, win 65535, options [mss 1440,nop,wscale 7], length 0"], "\(name)")
    }
  }

  @Test func malformedPacketsAreNeverSkipped() {
    let run = Self.decode(["45000028", "4f00"])
    #expect(run.status == 0)
    #expect(run.out.count == 2)
    #expect(run.out[0].contains("[ip truncated: 20 bytes needed, 4 captured]"))
  }

  @Test func badInputExitsTwoWithOneLine() {
    for arguments in [["zz"], ["123"], [], ["--pcap"], ["--bogus"], ["--link-type", "x", "00"],
                      ["--pcap", "/nonexistent/file.pcap"], ["--pcap", "/tmp"]] {
      let run = Self.decode(arguments)
      #expect(run.status == 2, "\(arguments)")
      #expect(run.err.count == 1, "\(arguments): \(run.err)")
      #expect(run.err.first?.hasPrefix("tcpcraft decode: ") == true)
      #expect(run.out.isEmpty)
    }
  }

  @Test func help() {
    let run = Self.decode(["--help"])
    #expect(run.status == 0)
    #expect(run.out.first?.contains("usage: tcpcraft decode") == true)
  }

  @Test func pcapFile() throws {
    let frame = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x08, 0x00]
      + (try DecodeCommand.parseHex(Self.syn).get())
    var file: [UInt8] = []
    let writer = PcapWriter(linkType: .ethernet, precision: .nanoseconds, byteOrder: .bigEndian)
    writer.appendFileHeader(to: &file)
    for _ in 0..<3 { writer.appendRecord(frame, to: &file) }
    let path = NSTemporaryDirectory() + "/decode-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap"
    #expect(FileManager.default.createFile(atPath: path, contents: Data(file)))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let run = Self.decode(["--pcap", path])
    #expect(run.status == 0, "\(run.err)")
    #expect(run.out == Array(repeating: "IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0", count: 3))

    // A file cut inside its last record: the whole records are printed, then one error line.
    #expect(FileManager.default.createFile(atPath: path, contents: Data(file.dropLast(5))))
    let cut = Self.decode(["--pcap", path])
    #expect(cut.status == 2)
    #expect(cut.out.count == 2)
    #expect(cut.err == ["tcpcraft decode: \(path): file ends inside record 3: needs 70 bytes, 65 available"])

    // Not a pcap file.
    #expect(FileManager.default.createFile(atPath: path, contents: Data("hello, world, not a pcap".utf8)))
    let notPcap = Self.decode(["--pcap", path])
    #expect(notPcap.status == 2)
    #expect(notPcap.err.first?.contains("not a pcap file") == true)
  }

  @Test func showAndHex() {
    let run = Self.decode(["--show", Self.badSyn])
    #expect(run.out.count == 2)
    #expect(run.out[1].contains("checksum             = 0x1234 (bad, should be 0x6626)"))
    #expect(run.out[1].contains("###[ TCP ]###"))
    let hex = Self.decode(["--hex", Self.syn])
    #expect(hex.out[1].hasPrefix("\t0x0000:  4500 0028 0001 0000 4006 66cd 0a00 0001"))
  }

  /// A file whose text runs past several 64 KiB chunks: every record gives exactly its line, in
  /// order, malformed ones (a bad checksum, a truncated header) with their notes, and `--show`
  /// in the same file keeps lines and trees in order.
  @Test func largePcapFileLinesMatchEachRecordInOrder() throws {
    let syn = try DecodeCommand.parseHex(Self.syn).get()
    let bad = try DecodeCommand.parseHex(Self.badSyn).get()
    var records: [[UInt8]] = []
    for index in 0..<3000 {
      var frame = index % 7 == 3 ? bad : syn
      if index % 11 == 5 { frame = Array(frame.prefix(30)) }
      // A different sequence number each (the checksum then goes bad: noted on the line).
      frame[7] = UInt8(truncatingIfNeeded: index)
      records.append(frame)
    }
    var file: [UInt8] = []
    let writer = PcapWriter(linkType: .ipv4, precision: .microseconds, byteOrder: .littleEndian)
    writer.appendFileHeader(to: &file)
    for record in records { writer.appendRecord(record, to: &file) }
    let path = NSTemporaryDirectory() + "/decode-large-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap"
    #expect(FileManager.default.createFile(atPath: path, contents: Data(file)))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let run = Self.decode(["--pcap", path])
    #expect(run.status == 0, "\(run.err)")
    let expected = records.map { dissect($0, linkType: .ipv4).summary }
    #expect(expected.joined(separator: "\n").utf8.count > 3 << 16)
    #expect(run.out == expected)
    #expect(run.out.contains { $0.contains("[bad tcp cksum") })
    #expect(run.out.contains { $0.contains("[|tcp]") })

    let shown = Self.decode(["--pcap", path, "--show"])
    #expect(shown.out.count == 2 * records.count)
    #expect(shown.out[0] == expected[0])
    #expect(shown.out[2 * 2999] == expected[2999])
  }
}
