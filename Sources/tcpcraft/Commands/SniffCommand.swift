import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft sniff`: capture and print one tcpdump line a packet.
enum SniffCommand: Command {
  static let spec = CommandSpec(
    name: "sniff",
    summary: "capture and print one tcpdump -nn -S -t line a packet",
    synopsis: ["[options] [EXPR...]"],
    about: """
      Captures on an interface (default lo) and prints one line a packet, as tcpdump -nn -S -t does.
      The filter is tcpdump's everyday language: tcp, udp, icmp, host A, src|dst host A, port N,
      src|dst port N, tcp[tcpflags] & tcp-syn != 0, joined by and, or, not and parentheses.

      --ring (or --duration, --buffer-size): capture through a TPACKET_V3 ring (default 32 MiB)
      for traffic at rate. With --pcap no line a packet is printed (as tcpdump -w). Ends, with or
      without --ring, with tcpdump's counts on stderr: captured, received by filter, dropped by
      kernel. Ctrl-C or SIGTERM stops it cleanly: every packet captured is in the --pcap file.
      The file is never written through a symbolic link, nor over another user's file.
      """,
    options: [
      OptionGroup([
        .string("--iface", aliases: ["-i"], "NAME", "the interface to capture on (default lo)"),
        .string("--filter", "EXPR", "the capture filter (or give it as trailing words)"),
        .integer("--count", aliases: ["-c"], UInt32.self, range: 1...UInt64(UInt32.max), "N", "stop after N packets (1 or more)"),
        .seconds("--timeout", "stop after this long"),
        .string("--pcap", aliases: ["-w"], "FILE", "write the packets to FILE (pcap, nanosecond timestamps)"),
        .toggle("--json", "one JSON object a packet, then a result object"),
        .toggle("--quiet", "no line a packet"),
      ]),
      SniffRing.options,
    ],
    examples: [
      "sudo tcpcraft sniff -i lo -c 10 tcp port 8080",
      "sudo tcpcraft sniff --filter 'tcp and host 127.0.0.1' --timeout 5 --pcap out.pcap",
      "sudo tcpcraft sniff --ring -i lo -w burst.pcap --duration 10 tcp port 9",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    var program: BPFProgram?
    let filterText: String?
    do throws(UsageError) {
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
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let count = arguments.integer("--count", as: UInt32.self).map { Int($0) } ?? Int.max
    let timeout = arguments.seconds("--timeout")
    let interface = arguments.value("--iface") ?? "lo"
    guard NetworkInterfaces.index(named: interface) != nil else {
      Terminal.error("tcpcraft: sniff: --iface: no interface named \"\(interface)\" (see `ip link`)")
      return 2
    }
    let json = arguments.has("--json")
    let pcapPath = arguments.value("--pcap")
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
    // -w: opened once, safely (never through a link, never another user's file), and written a
    // record at a time, so that an interrupted capture loses nothing.
    var pcapFile: CInt = -1
    var writer: PcapWriter?
    var writeFailure: String?
    if let pcapPath {
      do throws(FileSafetyError) {
        pcapFile = try SafeFile.openForWriting(pcapPath)
      } catch {
        Terminal.error("tcpcraft: sniff: cannot write \(Terminal.sanitized(pcapPath)): \(error.isRefusal ? "refused, " : "")\(error.reason)")
        return 1
      }
      let fd = pcapFile
      let path = pcapPath
      writer = PcapWriter(header: PcapFileHeader(linkType: .ethernet, precision: .nanoseconds, snapLength: 262_144, byteOrder: .littleEndian)) { bytes in
        guard writeFailure == nil else { return }
        do throws(FileSafetyError) {
          try SafeFile.writeAll(fd, bytes, path: path)
        } catch {
          writeFailure = error.description
        }
      }
    }
    defer { if pcapFile >= 0 { try? FileDescriptor(rawValue: pcapFile).close() } }
    if !json && !arguments.has("--quiet") {
      Terminal.error("tcpcraft: listening on \(interface)\(filterText.map { ", filter \"\($0)\"" } ?? "")")
    }
    // Ctrl-C or SIGTERM ends the capture the way tcpdump does: what was captured is written, and
    // the closing counts printed.
    InterruptFlag.install()
    defer { InterruptFlag.uninstall() }
    var receivedByFilter: UInt64 = 0
    var droppedByKernel: UInt64 = 0
    let clock = ContinuousClock()
    let deadline = timeout.map { clock.now.advanced(by: $0) }
    var seen = 0
    while seen < count, !InterruptFlag.isSet, writeFailure == nil {
      var wait: Duration = .milliseconds(200)
      if let deadline {
        let left = clock.now.duration(to: deadline)
        if left <= .zero { break }
        wait = min(wait, left)
      }
      let frame: CapturedFrame?
      do {
        frame = try capture.receive(timeout: wait)
      } catch {
        if InterruptFlag.isSet { break }
        Terminal.error("tcpcraft: sniff: \(error.description)")
        return 1
      }
      guard let frame else { continue }
      seen += 1
      let summary = dissect(frame.bytes[...], linkType: .ethernet, options: DissectionOptions(checksumNotReady: frame.checksumNotReady)).summary
      // As tcpdump -w (and sniff --ring -w): packets go to the file, not to the screen.
      if writer == nil && !arguments.has("--quiet") {
        if json {
          Terminal.out(
            SniffRing.packetLine(
              timestamp: frame.timestamp, packetType: frame.packetType, length: frame.originalLength,
              interface: interface, summary: summary))
        } else {
          Terminal.out(summary)
        }
      }
      writer?.write(
        frame.bytes, timestampSeconds: UInt32(truncatingIfNeeded: frame.timestamp.seconds),
        timestampNanoseconds: frame.timestamp.nanoseconds, originalLength: UInt32(truncatingIfNeeded: frame.originalLength))
    }
    if let statistics = try? capture.statistics() {
      receivedByFilter = UInt64(statistics.packets)
      droppedByKernel = UInt64(statistics.drops)
    }
    if pcapFile >= 0 {
      do throws(Errno) {
        try FileDescriptor(rawValue: pcapFile).synchronize()
      } catch where error != .invalidArgument && writeFailure == nil {
        writeFailure = "fsync: \(error.description)"
      } catch {}
    }
    let report = RingCaptureReport(
      captured: seen, receivedByFilter: max(receivedByFilter, UInt64(seen)), droppedByKernel: droppedByKernel,
      elapsed: .zero, stop: InterruptFlag.isSet ? .interrupted : .count)
    if json {
      var line = JSONLine()
      line.add("type", "result")
      line.add("command", "sniff")
      line.add("ok", writeFailure == nil)
      line.add("packets", seen)
      line.add("received_by_filter", Int(clamping: report.receivedByFilter))
      line.add("dropped_by_kernel", Int(clamping: report.droppedByKernel))
      if InterruptFlag.isSet { line.add("interrupted", true) }
      Terminal.out(line.description)
    } else {
      for text in report.tcpdumpLines { Terminal.error(text) }
    }
    if let writeFailure {
      Terminal.error("tcpcraft: sniff: \(writeFailure)")
      return 1
    }
    return 0
  }
}
