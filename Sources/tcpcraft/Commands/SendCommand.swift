import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft send HOST:PORT --flags FLAGS ...`: one crafted segment, any field forced.
enum SendCommand: Command {
  static let spec = CommandSpec(
    name: "send",
    summary: "one crafted segment, any field forced, optionally waiting for a reply",
    synopsis: ["HOST:PORT --flags FLAGS [options]", "HOST:PORT --flags FLAGS --count N [--rate PPS] [--walk FIELD[:SPEC]]... [options]"],
    about: """
      Sends one crafted segment with any field forced, and shows what comes back. FLAGS are tcpdump
      letters (S, S., F., P., R, R., SA, FA, PA, none) or names (syn,ack). With --expect, waits for a
      reply with those flags (exit 1 if it does not come). --guard keeps the kernel's own RSTs for
      our port from leaving while we wait. HOST:PORT is IPv4; [ADDR]:PORT is IPv6 (like
      [::1]:8080), with --flow-label and the hop limit in --ttl. IPv4 fragments: --ip-flags MF
      marks the segment as a first fragment (the receiver keeps it for reassembly, so nothing
      answers), --frag-offset N places it N × 8 bytes into a datagram; --ip-flags none clears the
      DF bit every segment carries by default.

      --option (repeatable), in the order given:
      \(optionHelp)

      At rate (any of --count, --rate, --duration): sends the segment N times, built once and
      changed in place per packet: --walk seq[:STEP] (the default), ack[:STEP], id[:STEP] (IPv4),
      flow[:STEP] (IPv6 flow label), sport[:LO-HI], dport[:LO-HI], window:LO-HI, flags:S/SA/F. (a
      list to cycle through). IPv4 or IPv6 ([ADDR]:PORT), the same way. Layer 3
      (raw socket, sendmmsg batches) unless --l2 or --iface: then Ethernet frames through a
      PACKET_TX_RING. --rate paces exactly (token bucket on the monotonic clock); without it, as
      fast as the kernel takes them. Always bounded: the send stops after --duration (default 60 s)
      even if N is not reached (exit 1 then, unless --duration was given). A progress line on
      stderr while it runs; a summary at the end.
      """,
    options: [
      OptionGroup([
        .string("--flags", "FLAGS", "the TCP flags (required): S, S., F., P., R, SA, syn,ack, none"),
        .integer("--sport", UInt16.self, "N", "our source port (default: random, 32768-60999)"),
        .integer("--seq", UInt32.self, "N", "the sequence number (default: random)"),
        .integer("--ack", UInt32.self, "N", "the acknowledgment number (default 0)"),
        .integer("--window", UInt16.self, "N", "the window (default 65535)"),
        .integer("--urgent", UInt16.self, "N", "the urgent pointer"),
        .integer("--data-offset", UInt8.self, range: 0...15, "N", "the data offset in 32-bit words, even a lying one"),
        .integer("--checksum", UInt16.self, hexOnly: true, "HEX", "the TCP checksum, forced (like 0xdead)"),
        .integer("--ttl", UInt8.self, "N", "the IPv4 time to live, or the IPv6 hop limit (default 64)"),
        .integer("--id", UInt16.self, "N", "the IPv4 identification (IPv4 only)"),
        .string("--ip-flags", "FLAGS", "the IPv4 flags: DF, MF, evil (the reserved bit), combined (DF,MF) or none (default DF)"),
        .integer("--frag-offset", UInt16.self, range: 0...8191, "N", "the IPv4 fragment offset, in 8-byte units (IPv4 only)"),
        .integer("--flow-label", UInt32.self, "N", "the IPv6 flow label, 0-1048575 (IPv6 only)"),
        .string("--data", "TEXT", "the payload, as text"),
        .string("--data-hex", "HEX", "the payload, as hex bytes (like 48656c6c6f)"),
        .repeatable("--option", "OPT", "a TCP option, in order: \(TCPOption.spellings.map(\.syntax).joined(separator: ", "))"),
        .string("--expect", "FLAGS", "wait for a reply with these flags (exit 1 if none comes)"),
        .seconds("--timeout", "how long to wait for replies (default 3 with --expect, else 0.3)"),
        .toggle("--guard", "keep the kernel's RSTs for our port from leaving while we wait"),
        Common.pcapOption,
      ]),
      SendRate.options,
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft send 127.0.0.1:8080 --flags S --expect S.",
      "sudo tcpcraft send 127.0.0.1:9 --flags S --expect R.          # a closed port answers RST",
      "sudo tcpcraft send 127.0.0.1:8080 --flags S --checksum 0xdead  # dropped by the kernel",
      "sudo tcpcraft send [::1]:8080 --flags S --expect S. --flow-label 12345   # over IPv6",
      "sudo tcpcraft send 127.0.0.1:8080 --flags S --option mss=0 --option raw=254:02",
      "sudo tcpcraft send 127.0.0.1:8080 --flags S --ip-flags MF   # a first fragment: held for reassembly, no reply",
      "sudo tcpcraft send 127.0.0.1:8080 --flags S --option tfo --option uto=5m --option md5=00112233445566778899aabbccddeeff",
      "sudo tcpcraft send 127.0.0.1:9 --flags S --count 1000000",
      "sudo tcpcraft send 127.0.0.1:8080 --flags S --count 50000 --rate 10000 --walk sport:20000-29999",
      "sudo tcpcraft send [::1]:8080 --flags S --count 10000 --rate 5000 --walk flow   # IPv6 at rate",
      "sudo tcpcraft send 10.0.0.2:80 --flags S --duration 5 --iface veth0 --dst-mac 02:00:00:00:00:02",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    let remote: HostPort
    let flags: TCPFlags
    let expected: TCPFlags?
    let payload: [UInt8]
    let options: [TCPOption]
    let ipFlags: IPv4Flags?
    do throws(UsageError) {
      remote = try arguments.target(command: "send", missing: "send: missing HOST:PORT (like 127.0.0.1:8080 or [::1]:8080)", allowIPv6: true)
      // Fields of one family only: one line, exit 2, for a target of the other.
      if remote.family == .ipv6 && arguments.has("--id") {
        throw UsageError("send: --id is the IPv4 identification; an IPv6 header has none (\(remote) is IPv6)")
      }
      for name in ["--ip-flags", "--frag-offset"] where arguments.has(name) {
        guard remote.family == .ipv4 else {
          throw UsageError("send: \(name) is an IPv4 header field; \(remote) is IPv6 (its fragments are an extension header)")
        }
        guard !SendRate.isRequested(arguments) else {
          throw UsageError("send: \(name) shapes one segment; it is not available with --count, --rate or --duration")
        }
      }
      ipFlags = try arguments.value("--ip-flags").map { (text) throws(UsageError) in try parseIPv4Flags(text) }
      if let label = arguments.integer("--flow-label", as: UInt32.self) {
        guard remote.family == .ipv6 else {
          throw UsageError("send: --flow-label is an IPv6 field; \(remote) is IPv4 (give [ADDR]:PORT)")
        }
        guard label <= 0xF_FFFF else { throw UsageError("send: --flow-label \(label) does not fit 20 bits (0-1048575)") }
      }
      guard let flagText = arguments.value("--flags") else {
        throw UsageError("send: --flags is required (like S, S., F., P., R, SA, none)")
      }
      flags = try parseFlags(flagText, option: "--flags")
      expected = try arguments.value("--expect").map { (text) throws(UsageError) in try parseFlags(text, option: "--expect") }
      if arguments.has("--data") && arguments.has("--data-hex") {
        throw UsageError("send: give --data or --data-hex, not both")
      }
      if let hex = arguments.value("--data-hex") {
        payload = try parseHex(hex, option: "--data-hex")
      } else {
        payload = Array((arguments.value("--data") ?? "").utf8)
      }
      options = try arguments.all("--option").map { (text) throws(UsageError) in try parseOption(text) }
      // What fits one packet: IPv4's 65535 bytes include its 20-byte header; IPv6's payload
      // length (65535) counts only what follows its 40-byte header.
      let optionBytes = (TCPOption.encodedLength(options) + 3) / 4 * 4
      guard optionBytes <= 40 else {
        throw UsageError("--option: the options take \(optionBytes) bytes; a TCP header holds at most 40")
      }
      let room = 65_535 - (remote.family == .ipv6 ? 0 : 20) - 20 - optionBytes
      guard payload.count <= room else {
        throw UsageError("send: the payload is \(payload.count) bytes; at most \(room) fit one \(remote.family) packet with these options")
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(expected == nil ? 0.3 : 3)
    if SendRate.isRequested(arguments) {
      return SendRate.run(arguments, remote: remote, flags: flags, payload: payload, options: options)
    }
    let output = Output(arguments)
    var flow: Flow?
    do throws(ScriptError) {
      let opened = try Flow.open(
        to: remote.endpoint, sourcePort: arguments.integer("--sport", as: UInt16.self), guardResets: arguments.has("--guard"))
      flow = opened
      if let label = arguments.integer("--flow-label", as: UInt32.self) { opened.flowLabel = label }
      // Unguarded: our kernel may reset the connection; watch for its RSTs to show them.
      let ownResets = arguments.has("--guard") ? nil : OwnKernelResets(local: opened.local, remote: opened.remote)
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      let checksum = arguments.integer("--checksum", as: UInt16.self)
      let urgent = arguments.integer("--urgent", as: UInt16.self)
      let identification = arguments.integer("--id", as: UInt16.self)
      let ttl = arguments.integer("--ttl", as: UInt8.self)
      let dataOffset = arguments.integer("--data-offset", as: UInt8.self)
      let fragmentOffset = arguments.integer("--frag-offset", as: UInt16.self)
      let seq = arguments.integer("--seq", as: UInt32.self)
      try opened.send(
        flags, seq: seq, ack: arguments.integer("--ack", as: UInt32.self),
        window: arguments.integer("--window", as: UInt16.self), options: options,
        payload: payload, step: "send"
      ) { ip, tcp in
        if let checksum { tcp.checksum = checksum }
        if let urgent { tcp.urgentPointer = urgent }
        if let identification { ip.identification = identification }
        if let ttl { ip.timeToLive = ttl }
        if let dataOffset { tcp.dataOffset = dataOffset }
        if let ipFlags { ip.flags = ipFlags }
        if let fragmentOffset { ip.fragmentOffset = fragmentOffset }
      }
      if let expected {
        let reply = try opened.expect(.flags(expected), within: timeout, step: "send: waiting for a reply")
        let reset = showOwnResets(ownResets, flow: opened, output: output)
        if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
        output.writeFiles(opened)
        output.result(ok: true, command: "send", flow: opened, message: "got the expected reply: \(reply.summary)\(reset)")
      } else {
        _ = try opened.receiveAll(for: timeout)
        let reset = showOwnResets(ownResets, flow: opened, output: output)
        if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
        output.writeFiles(opened)
        let replies = opened.transcript.entries.filter { $0.direction == .received }.count
        output.result(
          ok: true, command: "send", flow: opened,
          message: (replies == 0 ? "sent; no reply within \(ScriptError.format(timeout))" : "sent; \(replies) repl\(replies == 1 ? "y" : "ies")") + reset)
      }
      opened.close()
      return 0
    } catch {
      if let flow, let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
      if let flow { output.writeFiles(flow) }
      return Common.report(error, output: output, command: "send", flow: flow)
    }
  }

  /// Prints our own kernel's RSTs for the flow (an unguarded send), each with why it left.
  /// Returns a note for the final line ("" when none was seen).
  static func showOwnResets(_ resets: OwnKernelResets?, flow: Flow, output: Output) -> String {
    guard let resets else { return "" }
    let lines = resets.drain(transcript: flow.transcript)
    for line in lines {
      if output.json {
        var object = JSONLine()
        object.add("type", "kernel_rst")
        object.add("summary", line)
        object.add("explanation", OwnKernelResets.explanation(port: flow.local.port))
        Terminal.out(object.description)
      } else {
        output.say("our kernel \(line)")
        output.say("  (\(OwnKernelResets.explanation(port: flow.local.port)))")
      }
    }
    return lines.isEmpty ? "" : "; then our own kernel reset the connection (no --guard)"
  }

  /// tcpdump letters (`S`, `S.`, `F.`, `R`, `SA`, `FA`, `PA`), names (`syn,ack`), or `none`.
  static func parseFlags(_ text: String, option: String) throws(UsageError) -> TCPFlags {
    if text.lowercased() == "none" || text == "0" { return [] }
    guard let flags = TCPFlags(parsing: text) else {
      throw UsageError("\(option): \"\(text)\" is not a set of TCP flags (like S, S., F., P., R, SA, syn,ack, none)")
    }
    return flags
  }

  /// `DF`, `MF`, `evil` (the reserved bit, RFC 3514), joined by commas or `|` (`DF,MF`), or
  /// `none`; tcpdump's `+` for MF is taken too.
  static func parseIPv4Flags(_ text: String) throws(UsageError) -> IPv4Flags {
    if text.lowercased() == "none" || text == "0" { return [] }
    var flags: IPv4Flags = []
    let words = text.split(whereSeparator: { $0 == "," || $0 == "|" }).map { $0.lowercased() }
    for word in words {
      switch word {
      case "df": flags.insert(.dontFragment)
      case "mf", "+": flags.insert(.moreFragments)
      case "evil", "rsvd", "reserved": flags.insert(.reserved)
      default:
        throw UsageError("--ip-flags: \"\(text)\" is not a set of IPv4 flags (like DF, MF, DF,MF, evil, none)")
      }
    }
    guard !words.isEmpty else {
      throw UsageError("--ip-flags: \"\(text)\" is not a set of IPv4 flags (like DF, MF, DF,MF, evil, none)")
    }
    return flags
  }

  /// `48656c6c6f`, `48 65 6c`, `0x4865` (see `HexText`).
  static func parseHex(_ text: String, option: String) throws(UsageError) -> [UInt8] {
    switch HexText.bytes(text) {
    case .success(let bytes): return bytes
    case .failure: throw UsageError("\(option): \"\(text)\" is not hex bytes (like 48656c6c6f)")
    }
  }

  /// One line per `TCPOption.spellings` entry, for the help text.
  static var optionHelp: String {
    TCPOption.spellings.map { "  " + $0.syntax.padding(toLength: 30, withPad: " ", startingAt: 0) + $0.meaning }
      .joined(separator: "\n")
  }

  /// An `--option` value, by `TCPOption.spellings` (`mss=1460`, `tfo`, `md5=HEX16`, `raw=KIND:HEX`).
  static func parseOption(_ text: String) throws(UsageError) -> TCPOption {
    switch TCPOption.parse(spelling: text) {
    case .success(let option): return option
    case .failure(.badValue(let spelling)):
      throw UsageError("--option: \"\(text)\" is not an option (\(spelling.name) is written \(spelling.syntax): \(spelling.meaning))")
    case .failure(.unknownName):
      throw UsageError("--option: \"\(text)\" is not an option (\(TCPOption.spellings.map(\.syntax).joined(separator: ", ")))")
    }
  }
}

