import Glibc
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft sniff --ring ...`: capture through a `TPACKET_V3` ring (`RingCapture`), for traffic
/// at rate. Output as plain `sniff` (tcpdump lines, `--json` lines) but buffered; with `--pcap`
/// no line a packet is printed (as `tcpdump -w`). At the end, tcpdump's three lines on standard
/// error: packets captured, received by filter, dropped by kernel.
///
/// Entry point: `SniffRing.run(arguments, interface:program:filterText:count:timeout:)`, called
/// by `SniffCommand.run` when `SniffRing.isRequested(arguments)`.
enum SniffRing {
  /// Options this mode adds to `sniff` (part of `SniffCommand.spec`).
  static let options = OptionGroup(
    "at rate (any of --ring, --duration, --buffer-size):",
    [
      .toggle("--ring", "capture through a TPACKET_V3 ring"),
      .seconds("--duration", "stop after this long"),
      .integer("--buffer-size", UInt32.self, range: 1...4096, "MIB", "the ring's size in MiB (default 32)"),
    ])

  /// The JSON line `sniff --json` prints for a captured frame (plain and ring capture alike).
  static func packetLine(
    timestamp: CaptureTimestamp, packetType: PacketType, length: Int, interface: String, summary: String
  ) -> String {
    var line = JSONLine()
    line.add("type", "packet")
    line.add("time", Double(timestamp.seconds) + Double(timestamp.nanoseconds) / 1e9)
    line.add("interface", interface)
    line.add("packet_type", packetType.description)
    line.add("length", length)
    line.add("summary", summary)
    return line.description
  }

  /// `--ring`, or an option only the ring has (`--duration`, `--buffer-size`).
  static func isRequested(_ arguments: Arguments) -> Bool {
    arguments.has("--ring") || arguments.has("--duration") || arguments.has("--buffer-size")
  }

  static func run(
    _ arguments: Arguments, interface: String, program: BPFProgram?, filterText: String?, count: Int,
    timeout: Duration?
  ) -> Int32 {
    let json = arguments.has("--json")
    let quiet = arguments.has("--quiet")
    let pcapPath = arguments.value("--pcap")
    let duration = [arguments.seconds("--duration"), timeout].compactMap { $0 }.min()
    let bufferMiB = arguments.integer("--buffer-size", as: UInt32.self) ?? 32
    let capture: RingCapture
    do {
      let total = Int(bufferMiB) << 20
      let block = min(1 << 20, max(1 << 16, total / 8))
      capture = try RingCapture(interface: interface, filter: program, geometry: .receive(totalSize: total, blockSize: block))
    } catch {
      Terminal.error("tcpcraft: \(KernelTransport.scriptError(error, step: "sniff: opening a ring on \(interface)").description)")
      return 1
    }
    defer { capture.close() }
    var sink: PcapFileSink?
    if let pcapPath {
      do throws(ScriptError) {
        sink = try PcapFileSink(path: pcapPath)
      } catch {
        Terminal.error("tcpcraft: sniff: \(error.description)")
        return 1
      }
    }
    let output = BufferedFileWriter(descriptor: .standardOutput)
    if !json && !quiet {
      Terminal.error("tcpcraft: listening on \(interface) (TPACKET_V3 ring, \(bufferMiB) MiB)\(filterText.map { ", filter \"\($0)\"" } ?? "")")
    }
    InterruptFlag.install()
    defer { InterruptFlag.uninstall() }

    let printLines = sink == nil && !quiet
    var scratch: [UInt8] = []
    scratch.reserveCapacity(65_536)
    var failure: ScriptError?
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = duration.map { start.advanced(by: $0) }
    var captured = 0
    while captured < count, failure == nil, !InterruptFlag.isSet {
      var wait: Duration = .milliseconds(100)
      if let deadline {
        let left = clock.now.duration(to: deadline)
        if left <= .zero { break }
        wait = min(wait, left)
      }
      do {
        captured += try capture.ring.receive(timeout: wait, limit: count - captured) { frame in
          guard failure == nil else { return }
          do throws(ScriptError) {
            try sink?.write(frame)
            if printLines {
              scratch.removeAll(keepingCapacity: true)
              scratch.append(contentsOf: frame.bytes)
              let summary = dissect(scratch[...], linkType: .ethernet, options: DissectionOptions(checksumNotReady: frame.checksumNotReady)).summary
              if json {
                try output.writeLine(
                  packetLine(
                    timestamp: frame.timestamp, packetType: frame.packetType, length: frame.originalLength,
                    interface: interface, summary: summary))
              } else {
                try output.writeLine(summary)
              }
            }
          } catch {
            failure = error
          }
        }
        try output.flush()
      } catch let error as SocketError {
        failure = KernelTransport.scriptError(error, step: "sniff")
      } catch let error as ScriptError {
        failure = error
      } catch {
        failure = .system(step: "sniff", description: "\(error)")
      }
    }
    var closeFailure: ScriptError?
    do throws(ScriptError) {
      try output.flush()
      try sink?.close()
    } catch {
      closeFailure = error
    }
    let statistics = (try? capture.ring.statistics()) ?? RingStatistics()
    let report = RingCaptureReport(
      captured: captured, receivedByFilter: statistics.packets, droppedByKernel: statistics.drops,
      elapsed: start.duration(to: clock.now), stop: InterruptFlag.isSet ? .interrupted : (captured >= count ? .count : .duration))
    if json {
      var line = JSONLine()
      line.add("type", "result")
      line.add("command", "sniff")
      line.add("ok", failure == nil && closeFailure == nil)
      line.add("packets", report.captured)
      line.add("received_by_filter", Int(clamping: report.receivedByFilter))
      line.add("dropped_by_kernel", Int(clamping: report.droppedByKernel))
      Terminal.out(line.description)
    } else {
      for text in report.tcpdumpLines { Terminal.error(text) }
    }
    if let error = failure ?? closeFailure {
      Terminal.error("tcpcraft: \(error.description)")
      return 1
    }
    return 0
  }
}
