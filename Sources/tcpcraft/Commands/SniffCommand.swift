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
      for traffic at rate. With --pcap no line a packet is printed (as tcpdump -w). Ends with
      tcpdump's counts on stderr: captured, received by filter, dropped by kernel. Ctrl-C stops it
      cleanly.
      """,
    options: [
      OptionGroup([
        .string("--iface", aliases: ["-i"], "NAME", "the interface to capture on (default lo)"),
        .string("--filter", "EXPR", "the capture filter (or give it as trailing words)"),
        .integer("--count", aliases: ["-c"], UInt32.self, "N", "stop after N packets"),
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
