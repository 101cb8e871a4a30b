import Foundation
import PacketKit
import RawSocket
import TCPScript

/// Options shared by every command that drives an exchange.
enum Common {
  /// How an exchange is shown (read by `Output`).
  static let outputOptions = OptionGroup(
    "output:",
    [
      .toggle("--json", "one JSON object a line (each segment, then a result object)"),
      .toggle("--explain", "one plain sentence a step: the rule at work"),
      .toggle("--relative", "seq/ack relative to the initial sequence numbers (tcpdump without -S)"),
      .toggle("--no-ladder", "no ladder diagram at the end"),
      .toggle("--quiet", "only the final line (errors still go to stderr)"),
      .toggle("--rfc-names", "kept for old scripts: states are always spelled as RFC 9293 does (SYN-SENT)"),
      .string("--svg", "FILE", "the ladder as an SVG picture (to project or print)"),
      .string("--pcapng", "FILE", "the segments as pcapng, each with its explanation and both states as a comment"),
    ])

  /// `--pcap FILE` for the commands that drive an exchange.
  static let pcapOption = OptionSpec.string("--pcap", "FILE", "write the segments to FILE (pcap, open it in Wireshark)")

  /// The TCP options of our SYN (read by `synOptions`).
  static let synOptionTable: [OptionSpec] = [
    .integer("--mss", UInt16.self, "N", "maximum segment size option in our SYN"),
    .integer("--wscale", UInt8.self, range: 0...14, "N", "window scale option (0-14, RFC 7323 §2.3; more: send --option wscale=N)"),
    .toggle("--sack-perm", "SACK-permitted option"),
    .toggle("--timestamps", "timestamps option (TSval from our millisecond clock)"),
    .integer("--tsval", UInt32.self, "N", "timestamps option with this TSval (implies --timestamps)"),
  ]

  /// Writes `flow`'s segments to `path` as a pcap (LINKTYPE_RAW: IPv4 and IPv6 packets alike, the
  /// version nibble tells them apart; tcpdump, tshark and Wireshark read both).
  static func writePcap(_ flow: Flow, to path: String) throws(ScriptError) {
    try writePcap(flow.transcript.entries, to: path)
  }

  static func writePcap(_ entries: [TranscriptEntry], to path: String) throws(ScriptError) {
    let records = entries.map {
      (bytes: $0.wirePacket, seconds: Int($0.timestampSeconds), nanoseconds: Int($0.timestampNanoseconds))
    }
    if let problem = writeRawIPv4Pcap(records, to: path) {
      throw .system(step: "writing \(path)", description: problem)
    }
  }

  /// Writes IP packets (LINKTYPE_RAW, either family) with their timestamps to `path`, relative to the current
  /// directory. Returns what went wrong, or `nil`.
  static func writeRawIPv4Pcap(
    _ records: [(bytes: [UInt8], seconds: Int, nanoseconds: Int)], to path: String
  ) -> String? {
    let writer = PcapWriter(linkType: .raw)
    var file: [UInt8] = []
    writer.appendFileHeader(to: &file)
    for record in records {
      writer.appendRecord(
        record.bytes, timestampSeconds: UInt32(truncatingIfNeeded: record.seconds),
        timestampNanoseconds: UInt32(truncatingIfNeeded: record.nanoseconds), to: &file)
    }
    // Written whole beside the target and renamed over it: never through a symbolic link, never
    // over another user's file (SafeFile).
    do throws(FileSafetyError) {
      try SafeFile.write(file, to: path)
    } catch {
      return error.isRefusal ? "refused: \(error.reason)" : error.reason
    }
    return nil
  }

  /// `path` made absolute against the current directory.
  static func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  }

  /// TCP options from `--mss`, `--wscale`, `--sack-perm`, `--timestamps` (`--tsval`), in the
  /// order of the classic trace in the lab walkthrough: mss, nop, wscale, nop, nop, TS, sackOK, eol.
  static func synOptions(_ arguments: Arguments, timestamp: UInt32 = 0) -> [TCPOption] {
    var options: [TCPOption] = []
    if let mss = arguments.integer("--mss", as: UInt16.self) { options.append(.maximumSegmentSize(mss)) }
    if let scale = arguments.integer("--wscale", as: UInt8.self) {
      options.append(.noOperation)
      options.append(.windowScale(scale))
    }
    let tsval = arguments.integer("--tsval", as: UInt32.self)
    if arguments.has("--timestamps") || tsval != nil {
      options.append(.noOperation)
      options.append(.noOperation)
      options.append(.timestamps(value: tsval ?? timestamp, echoReply: 0))
    }
    if arguments.has("--sack-perm") { options.append(.sackPermitted) }
    // An end-of-list only when the options do not already fill whole 32-bit words (the classic
    // trace's 22 bytes get one; a lone MSS, 4 bytes, does not).
    let bytes = options.reduce(0) { total, option in
      switch option {
      case .maximumSegmentSize: total + 4
      case .windowScale: total + 3
      case .timestamps: total + 10
      case .sackPermitted: total + 2
      default: total + 1
      }
    }
    if bytes % 4 != 0 { options.append(.endOfOptionList) }
    return options
  }

  /// Reports a failed exchange: saves what `flow` saw to `--pcap` when asked (best effort),
  /// draws its ladder, then reports `error` as `report` does.
  static func reportFailure(
    _ error: ScriptError, flow: Flow?, arguments: Arguments, output: Output, command: String
  ) -> Int32 {
    if let flow {
      if let path = arguments.value("--pcap") { try? writePcap(flow, to: path) }
      output.drawLadder(flow)
    }
    return report(error, output: output, command: command, flow: flow)
  }

  /// Runs `body`, turning a `ScriptError` into the right message and exit status.
  static func report(_ error: ScriptError, output: Output, command: String, flow: Flow?) -> Int32 {
    output.result(ok: false, command: command, flow: flow, message: error.description)
    return 1
  }
}

