import Foundation
import PacketKit
import Testing
import TestSupport

// SYN 10.0.0.1.1234 > 10.0.0.2.4321 inside Ethernet (from the scapy fixture files).
private let sampleFrames: [[UInt8]] = [
  FormatTools.bytes(hex: "001122334455667788 99aabb0800 4500002800010000 4006 66cd 0a000001 0a000002 04d2 10e1 00000007 00000000 5002 2000 6626 0000"),
  Array(repeating: 0xA5, count: 1),
  Array(0...255).map { UInt8($0) },
]

@Suite("pcap reader and writer")
struct PcapTests {
  @Test("scapy-written files: µs and ns, little- and big-endian")
  func readsScapyFiles() throws {
    for (name, hex) in pcapScapyFiles {
      let (header, records) = try PcapReader.read(FormatTools.bytes(hex: hex))
      #expect(header.linkType == .ethernet, "\(name)")
      #expect(header.precision == (name.hasPrefix("nano") ? .nanoseconds : .microseconds), "\(name)")
      #expect(header.byteOrder == (name.hasSuffix("Big") ? .bigEndian : .littleEndian), "\(name)")
      try #require(records.count == 2, "\(name)")
      #expect(records[0].timestampSeconds == 1_700_000_000)
      #expect(records[0].timestampNanoseconds == (name.hasPrefix("nano") ? 123_456_001 : 123_456_000))
      #expect(records[1].timestampSeconds == 1_700_000_001)
      #expect(records[1].timestampNanoseconds == 500_000_000)
      #expect(records[0].data.count == 54 && records[0].originalLength == 54)
      let summaries = records.map { dissect($0.data, linkType: .ethernet).summary }
      #expect(records.allSatisfy { !dissect($0.data, linkType: .ethernet).isMalformed })
      #expect(summaries == [
        "IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0",
        "IP 10.0.0.2.4321 > 10.0.0.1.1234: Flags [S.], seq 99, ack 8, win 8192, length 0",
      ], "\(name)")
    }
  }

  @Test("write → read round trip in every format, fed in chunks of any size",
        arguments: [1, 3, 16, 17, 4096])
  func roundTrip(chunkSize: Int) throws {
    for precision in [PcapTimestampPrecision.microseconds, .nanoseconds] {
      for order in [PcapByteOrder.littleEndian, .bigEndian] {
        for linkType in LinkType.allCases {
          let writer = PcapWriter(linkType: linkType, precision: precision, byteOrder: order)
          var file: [UInt8] = []
          writer.appendFileHeader(to: &file)
          for (index, frame) in sampleFrames.enumerated() {
            writer.appendRecord(frame, timestampSeconds: 1_000 + UInt32(index),
                                timestampNanoseconds: 987_654_321, originalLength: UInt32(frame.count + index), to: &file)
          }
          var reader = PcapReader()
          var records: [PcapRecord] = []
          var offset = 0
          while offset < file.count {
            reader.append(file[offset..<min(offset + chunkSize, file.count)])
            offset += chunkSize
            while let record = try reader.next() { records.append(record) }
          }
          try reader.finish()
          #expect(reader.header?.linkType == linkType)
          #expect(reader.header?.precision == precision)
          #expect(records.map(\.data) == sampleFrames)
          #expect(records.map(\.originalLength) == sampleFrames.enumerated().map { UInt32($1.count + $0) })
          let expectedNanos: UInt32 = precision == .microseconds ? 987_654_000 : 987_654_321
          #expect(records.allSatisfy { $0.timestampNanoseconds == expectedNanos })
          #expect(records.map(\.timestampSeconds) == [1000, 1001, 1002])
        }
      }
    }
  }

  @Test func headerBytesAreTheDocumentedLayout() {
    var bytes: [UInt8] = []
    PcapWriter(linkType: .ethernet, precision: .nanoseconds, snapLength: 65535, byteOrder: .bigEndian)
      .appendFileHeader(to: &bytes)
    #expect(bytes == [0xA1, 0xB2, 0x3C, 0x4D, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 1])
    bytes = []
    PcapWriter(linkType: .raw).appendFileHeader(to: &bytes)
    #expect(bytes == [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 101, 0, 0, 0])
  }

  @Test func sinkWriterProducesTheSameBytes() {
    var collected: [UInt8] = []
    nonisolated(unsafe) var sinkBytes: [UInt8] = []
    var streaming = PcapWriter(header: PcapFileHeader(linkType: .ethernet)) { sinkBytes += $0 }
    for frame in sampleFrames { streaming.write(frame, timestampSeconds: 5) }
    let writer = PcapWriter(linkType: .ethernet)
    writer.appendFileHeader(to: &collected)
    for frame in sampleFrames { writer.appendRecord(frame, timestampSeconds: 5, to: &collected) }
    #expect(sinkBytes == collected)
  }

  @Test func snapLengthCutsRecords() throws {
    let writer = PcapWriter(linkType: .raw, snapLength: 10)
    var file: [UInt8] = []
    writer.appendFileHeader(to: &file)
    writer.appendRecord(sampleFrames[2], to: &file)
    let (_, records) = try PcapReader.read(file)
    #expect(records[0].data == Array(sampleFrames[2].prefix(10)))
    #expect(records[0].originalLength == 256)
    #expect(records[0].isTruncated)
  }

  @Test func badInputIsATypedError() throws {
    #expect(throws: PcapError.badMagic(0x0102_0304)) {
      try PcapReader.read([1, 2, 3, 4] + Array(repeating: 0, count: 40))
    }
    #expect(throws: PcapError.badBlock(offset: 0, reason: "bad byte-order magic")) {
      try PcapReader.read([0x0A, 0x0D, 0x0D, 0x0A] + Array(repeating: 0, count: 40))
    }
    #expect(throws: PcapError.truncated(context: "file header", needed: 24, available: 10)) {
      try PcapReader.read(Array(FormatTools.bytes(hex: pcapScapyFiles[0].hex).prefix(10)))
    }
    let whole = FormatTools.bytes(hex: pcapScapyFiles[0].hex)
    #expect(throws: PcapError.truncated(context: "record 2", needed: 70, available: 69)) {
      try PcapReader.read(Array(whole.dropLast()))
    }
    #expect(throws: PcapError.truncated(context: "record 1 header", needed: 16, available: 5)) {
      try PcapReader.read(Array(whole.prefix(29)))
    }
    var huge = Array(whole.prefix(24 + 8))
    huge += [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]  // incl_len 0x7FFFFFFF
    #expect(throws: PcapError.self) { try PcapReader.read(huge) }
    // Errors are sticky.
    var reader = PcapReader()
    reader.append([9, 9, 9, 9])
    #expect(throws: PcapError.self) { try reader.next() }
    reader.append(whole)
    #expect(throws: PcapError.self) { try reader.next() }
  }

  @Test func randomBytesNeverTrap() {
    var generator = SeededGenerator(seed: 42)
    for round in 0..<2000 {
      var bytes = Array(FormatTools.bytes(hex: pcapScapyFiles[round % 4].hex))
      for _ in 0..<(1 + round % 8) {
        let index = Int(generator.next() % UInt64(bytes.count))
        bytes[index] = UInt8(truncatingIfNeeded: generator.next())
      }
      bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count + 1))))
      if let (_, records) = try? PcapReader.read(bytes) {
        for record in records { _ = dissect(record.data, linkType: .ethernet).summary }
      }
    }
  }

  // MARK: real tools

  /// pcapng written by editcap, mergecap and tshark from our files: same packets, same times,
  /// per-interface link types.
  @Test func readsPcapNGFromWiresharkTools() throws {
    try #require(FormatTools.path("editcap") != nil && FormatTools.path("mergecap") != nil
                 && FormatTools.path("tshark") != nil, "editcap/mergecap/tshark come with tshark")
    var cleanup: [String] = []
    defer { for path in cleanup { try? FileManager.default.removeItem(atPath: path) } }
    let ethernet = sampleFrames[0]
    let raw = Array(sampleFrames[0].dropFirst(14))
    for precision in [PcapTimestampPrecision.microseconds, .nanoseconds] {
      let records = [
        PcapRecord(data: ethernet, timestampSeconds: 1_700_000_000, timestampNanoseconds: 123_456_789),
        PcapRecord(data: ethernet, timestampSeconds: 1_700_000_001, timestampNanoseconds: 1_000, originalLength: 100),
      ]
      let classic = try FormatTools.writeTemporary(PcapWriter.file(linkType: .ethernet, precision: precision, records: records), suffix: "c.pcap")
      let rawFile = try FormatTools.writeTemporary(
        PcapWriter.file(linkType: .raw, precision: precision, records: [PcapRecord(data: raw, timestampSeconds: 1_700_000_002)]), suffix: "r.pcap")
      let viaEditcap = FormatTools.temporaryPath("e.pcapng")
      let viaTshark = FormatTools.temporaryPath("t.pcapng")
      let merged = FormatTools.temporaryPath("m.pcapng")
      cleanup += [classic, rawFile, viaEditcap, viaTshark, merged]
      #expect(try FormatTools.run("editcap", ["-F", "pcapng", classic, viaEditcap]).status == 0)
      #expect(try FormatTools.run("tshark", ["-r", classic, "-w", viaTshark]).status == 0)
      #expect(try FormatTools.run("mergecap", ["-F", "pcapng", "-a", "-w", merged, classic, rawFile]).status == 0)
      let expectedNanos: [UInt32] = precision == .microseconds ? [123_456_000, 1_000] : [123_456_789, 1_000]
      for path in [viaEditcap, viaTshark] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes.prefix(4)) == [0x0A, 0x0D, 0x0D, 0x0A], "\(path) is pcapng")
        for chunk in [1, 7, 1 << 16] {
          var reader = PcapReader()
          var read: [PcapRecord] = []
          var offset = 0
          while offset < bytes.count {
            reader.append(bytes[offset..<min(offset + chunk, bytes.count)])
            offset += chunk
            while let record = try reader.next() { read.append(record) }
          }
          try reader.finish()
          #expect(read.map(\.data) == [ethernet, ethernet])
          #expect(read.map(\.timestampSeconds) == [1_700_000_000, 1_700_000_001])
          #expect(read.map(\.timestampNanoseconds) == expectedNanos)
          #expect(read.map(\.originalLength) == [54, 100])
          #expect(read.allSatisfy { $0.linkType == .ethernet })
          #expect(reader.header?.linkType == .ethernet)
        }
      }
      let (_, mixed) = try PcapReader.read(try [UInt8](Data(contentsOf: URL(fileURLWithPath: merged))))
      #expect(mixed.map(\.linkType) == [.ethernet, .ethernet, .raw])
      #expect(mixed.map { dissect($0.data, linkType: $0.linkType ?? .ethernet).summary }
        == Array(repeating: "IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0", count: 3))
    }
  }

  @Test("tcpdump and tshark read our files (µs/ns, both byte orders)")
  func toolsReadOurFiles() throws {
    try #require(FormatTools.path("tcpdump") != nil && FormatTools.path("tshark") != nil,
                 "tcpdump and tshark must be installed (.ci/run installs them)")
    for precision in [PcapTimestampPrecision.microseconds, .nanoseconds] {
      for order in [PcapByteOrder.littleEndian, .bigEndian] {
        let writer = PcapWriter(linkType: .ethernet, precision: precision, byteOrder: order)
        var file: [UInt8] = []
        writer.appendFileHeader(to: &file)
        writer.appendRecord(sampleFrames[0], timestampSeconds: 1_700_000_000, timestampNanoseconds: 123_456_789, to: &file)
        writer.appendRecord(sampleFrames[0], timestampSeconds: 1_700_000_002, timestampNanoseconds: 5_000, originalLength: 60, to: &file)
        let path = try FormatTools.writeTemporary(file, suffix: "ours.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }

        let tcpdump = try FormatTools.run("tcpdump", ["-nn", "-S", "-tt", "--time-stamp-precision=nano", "-r", path])
        #expect(tcpdump.status == 0, "\(tcpdump.stderr)")
        let fraction = precision == .microseconds ? "123456000" : "123456789"
        #expect(tcpdump.lines == [
          "1700000000.\(fraction) IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0",
          "1700000002.000005000 IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0",
        ])
        let tshark = try FormatTools.run(
          "tshark", ["-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len",
                     "-e", "ip.src", "-e", "tcp.dstport", "-e", "tcp.flags.syn"])
        #expect(tshark.status == 0, "\(tshark.stderr)")
        #expect(tshark.lines == [
          "1700000000.\(fraction)\t54\t54\t10.0.0.1\t4321\t1",
          "1700000002.000005000\t60\t54\t10.0.0.1\t4321\t1",
        ])
      }
    }
  }

  @Test("tcpdump reads our LINUX_SLL, NULL and RAW files")
  func tcpdumpReadsOtherLinkTypes() throws {
    try #require(FormatTools.path("tcpdump") != nil)
    let packet = Array(sampleFrames[0].dropFirst(14))
    for linkType in [LinkType.linuxSLL, .null, .raw, .ipv4] {
      let file = PcapWriter.file(linkType: linkType, records: [PcapRecord(data: FormatTools.frame(packet, linkType: linkType))])
      let path = try FormatTools.writeTemporary(file, suffix: "link.pcap")
      defer { try? FileManager.default.removeItem(atPath: path) }
      let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
      #expect(output.lines == ["IP 10.0.0.1.1234 > 10.0.0.2.4321: Flags [S], seq 7, win 8192, length 0"], "\(linkType)")
      #expect(output.stderr.contains("link-type \(linkType.tcpdumpName)"), "\(output.stderr)")
    }
  }

  /// Captures real traffic (a TCP exchange and UDP datagrams between kernel sockets on
  /// 127.0.0.1) with `tcpdump -w`, reads the file with PcapReader, and checks every record
  /// against tcpdump's own reading of the same file: summary lines, bytes (`-xx`), timestamps.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"),
        arguments: [("lo", "micro"), ("lo", "nano"), ("any", "micro")])
  func readsFilesTcpdumpCaptured(interface: String, precision: String) throws {
    try Privileges.check(.netRaw, .netAdmin)
    try #require(FormatTools.path("tcpdump") != nil)
    let path = FormatTools.temporaryPath("captured-\(interface)-\(precision).pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let port = 20_000 + Int(getpid() % 20_000) + (interface == "any" ? 7 : precision == "nano" ? 3 : 0)
    let capture = Process()
    capture.executableURL = URL(fileURLWithPath: FormatTools.path("tcpdump")!)
    capture.arguments = ["-i", interface, "-U", "--immediate-mode", "-c", "200", "--time-stamp-precision=\(precision)", "-w", path,
                         "host 127.0.0.1 and port \(port)"]
    capture.standardOutput = FileHandle.nullDevice
    let errPath = FormatTools.temporaryPath("tcpdump-stderr.txt")
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    capture.standardError = FileHandle(forWritingAtPath: errPath)
    try capture.run()
    defer { if capture.isRunning { kill(capture.processIdentifier, SIGKILL) } }
    // Wait (bounded) for tcpdump's "listening on" line; read its stderr file, never block.
    let ready = Date().addingTimeInterval(10)
    while Date() < ready {
      let banner = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
      if banner.contains("listening") { break }
      usleep(20_000)
    }
    try FormatTools.loopbackTraffic(port: UInt16(port))
    // Wait (bounded) until the last datagram is in the file.
    let written = Date().addingTimeInterval(5)
    while Date() < written {
      let partial = (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) } ?? []
      var reader = PcapReader()
      reader.append(partial)
      var last: PcapRecord?
      while let record = try? reader.next() { last = record }
      if let last, last.data.count >= 2, last.data.suffix(2) == [0x78, 0x78] { break }
      if interface == "any" && Date() > written.addingTimeInterval(-3.5) { break }
      usleep(20_000)
    }
    // tcpdump -U has written every packet; it may ignore SIGTERM (mask inherited from the test
    // runner), so end it for sure.
    kill(capture.processIdentifier, SIGKILL)
    capture.waitUntilExit()

    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let (header, records) = try PcapReader.read(bytes)
    let linkType: LinkType = interface == "any" ? .linuxSLL2 : .ethernet
    #expect(header.precision == (precision == "nano" ? .nanoseconds : .microseconds))
    #expect(header.linkType == linkType)
    // On "any" the kernel may drop some of them (seen here under load); lo gets them all.
    #expect(records.count >= (interface == "any" ? 1 : 10), "expected the TCP exchange and 3 datagrams")
    let theirs = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    let expected = theirs.lines
    // The kernel's own segments on lo carry unfinished checksums (CHECKSUM_PARTIAL).
    let options = DissectionOptions(checksumNotReady: true, interfaceNames: SummaryTcpdumpTests.interfaceNames())
    let dissections = records.map { dissect($0.data, linkType: linkType, options: options) }
    #expect(dissections.map(\.summary) == expected)
    #expect(dissections.allSatisfy { !$0.isMalformed }, "\(dissections.flatMap(\.problems))")
    #expect(dissections.allSatisfy { $0.problems.allSatisfy { if case .checksumPartial = $0 { true } else { false } } })
    // Without the flag, those unfinished checksums would be called bad: the flag is what matters.
    let strict = records.map { dissect($0.data, linkType: linkType) }
    #expect(strict.contains { $0.problems.contains { if case .badChecksum(.tcp, _, _) = $0 { true } else { false } } })
    if interface == "lo" {
      #expect(dissections.contains { $0.summary.contains("Flags [P.]") && $0.summary.hasSuffix("length 5") })
      #expect(dissections.contains { $0.summary.hasSuffix("UDP, length 2") })
    }
    let hex = try FormatTools.run("tcpdump", ["-xx", "-r", path])
    let dumped = hex.lines.filter { $0.hasPrefix("\t0x") }
    #expect(records.flatMap { hexdump($0.data, style: .tcpdump).split(separator: "\n").map(String.init) } == dumped)
    let times = try FormatTools.run("tcpdump", ["-tt", "--time-stamp-precision=nano", "-r", path])
    #expect(records.map { "\($0.timestampSeconds).\(String(format: "%09u", $0.timestampNanoseconds))" }
      == times.lines.map { String($0.prefix(while: { $0 != " " })) })
  }
}

