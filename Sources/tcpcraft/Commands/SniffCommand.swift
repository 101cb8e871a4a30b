import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft sniff`: capture and print one tcpdump line a packet.
enum SniffCommand {
  static let valued: Set<String> = Set(["--iface", "-i", "--filter", "--count", "-c", "--pcap", "-w", "--timeout"])
    .union(SniffRing.valued)
  static let switches: Set<String> = Set(["--json", "--quiet"]).union(SniffRing.switches)

  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    let count: Int
    let timeout: Duration?
    var program: BPFProgram?
    let filterText: String?
    do throws(UsageError) {
      arguments = try Arguments(argv, command: "sniff", valued: valued, switches: switches)
      if arguments.wantsHelp { Terminal.out(Help.sniff); return 0 }
      // A filter may also be given as trailing words, as with tcpdump.
      let words = arguments.positionals.joined(separator: " ")
      if arguments.has("--filter") && !words.isEmpty {
        throw UsageError("sniff: give the filter once (--filter EXPR or trailing words)")
      }
      filterText = arguments.value("--filter") ?? (words.isEmpty ? nil : words)
      if let filterText {
        do throws(CaptureFilterError) {
          program = try CaptureFilter(parsing: filterText).compile(for: .ethernet)
        } catch {
          throw UsageError("sniff: bad filter \"\(filterText)\": \(error.description)")
        }
      }
      let longCount = try arguments.integer("--count", as: UInt32.self)
      let shortCount = try arguments.integer("-c", as: UInt32.self)
      let countValue = longCount ?? shortCount
      count = countValue.map { Int($0) } ?? Int.max
      timeout = try arguments.seconds("--timeout")
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let interface = arguments.value("--iface") ?? arguments.value("-i") ?? "lo"
    let json = arguments.has("--json")
    let pcapPath = arguments.value("--pcap") ?? arguments.value("-w")
    if SniffRing.isRequested(arguments) {
      return SniffRing.run(arguments, interface: interface, program: program, filterText: filterText, count: count, timeout: timeout)
    }
    let capture: PacketSocket
    do {
      capture = try PacketSocket(interface: interface, filter: program)
    } catch {
      let message = KernelTransport.scriptError(error, step: "sniff: opening \(interface)").description
      Terminal.error(message.hasPrefix("tcpcraft") ? message : "tcpcraft: \(message)")
      return 1
    }
    defer { capture.close() }
    var pcapHandle: FileHandle?
    var writer: PcapWriter?
    if let pcapPath {
      guard FileManager.default.createFile(atPath: pcapPath, contents: nil), let handle = FileHandle(forWritingAtPath: pcapPath) else {
        Terminal.error("tcpcraft: sniff: cannot create \(pcapPath)")
        return 1
      }
      pcapHandle = handle
      writer = PcapWriter(header: PcapFileHeader(linkType: .ethernet, precision: .nanoseconds, snapLength: 262_144, byteOrder: .littleEndian)) { bytes in
        handle.write(Data(bytes))
      }
    }
    if !json && !arguments.has("--quiet") {
      Terminal.error("tcpcraft: listening on \(interface)\(filterText.map { ", filter \"\($0)\"" } ?? "")")
    }
    let clock = ContinuousClock()
    let deadline = timeout.map { clock.now.advanced(by: $0) }
    var seen = 0
    while seen < count {
      var wait: Duration = .seconds(1)
      if let deadline {
        wait = clock.now.duration(to: deadline)
        if wait <= .zero { break }
      }
      let frame: CapturedFrame?
      do {
        frame = try capture.receive(timeout: wait)
      } catch {
        Terminal.error("tcpcraft: sniff: \(error.description)")
        return 1
      }
      guard let frame else { continue }
      seen += 1
      let summary = dissect(frame.bytes[...], linkType: .ethernet, options: DissectionOptions(checksumNotReady: frame.checksumNotReady)).summary
      if json {
        Terminal.out(
          SniffRing.packetLine(
            timestamp: frame.timestamp, packetType: frame.packetType, length: frame.originalLength,
            interface: interface, summary: summary))
      } else if !arguments.has("--quiet") {
        Terminal.out(summary)
      }
      writer?.write(
        frame.bytes, timestampSeconds: UInt32(truncatingIfNeeded: frame.timestamp.seconds),
        timestampNanoseconds: frame.timestamp.nanoseconds, originalLength: UInt32(truncatingIfNeeded: frame.originalLength))
    }
    try? pcapHandle?.close()
    if json {
      var line = JSONLine()
      line.add("type", "result")
      line.add("command", "sniff")
      line.add("ok", true)
      line.add("packets", seen)
      Terminal.out(line.description)
    } else {
      Terminal.error("tcpcraft: \(seen) packet\(seen == 1 ? "" : "s") captured")
    }
    return 0
  }
}
