import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft send HOST:PORT --flags FLAGS ...`: one crafted segment, any field forced.
enum SendCommand {
  static let valued: Set<String> = Set([
    "--flags", "--sport", "--seq", "--ack", "--window", "--ttl", "--data", "--data-hex", "--checksum",
    "--option", "--expect", "--timeout", "--urgent", "--id", "--data-offset", "--pcap",
  ]).union(SendRate.valued).union(Common.outputValued)
  static let switches: Set<String> = Common.outputSwitches.union(["--guard"]).union(SendRate.switches)

  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    let remote: HostPort
    let flags: TCPFlags
    let expected: TCPFlags?
    let payload: [UInt8]
    let options: [TCPOption]
    let timeout: Duration
    do throws(UsageError) {
      arguments = try Arguments(argv, command: "send", valued: valued, switches: switches)
      if arguments.wantsHelp { Terminal.out(Help.send); return 0 }
      remote = try arguments.target(command: "send", missing: "send: missing HOST:PORT")
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
      timeout = try arguments.seconds("--timeout") ?? .seconds(expected == nil ? 0.3 : 3)
      for name in ["--sport", "--window", "--urgent", "--id"] { _ = try arguments.integer(name, as: UInt16.self) }
      for name in ["--seq", "--ack"] { _ = try arguments.integer(name, as: UInt32.self) }
      _ = try arguments.integer("--ttl", as: UInt8.self)
      _ = try arguments.integer("--data-offset", as: UInt8.self)
      if let checksum = arguments.value("--checksum") {
        guard Arguments.parseInteger(checksum.hasPrefix("0x") ? checksum : "0x" + checksum, as: UInt16.self) != nil else {
          throw UsageError("--checksum: \"\(checksum)\" is not a 16-bit hex value (like 0xdead)")
        }
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    if SendRate.isRequested(arguments) {
      return SendRate.run(arguments, remote: remote, flags: flags, payload: payload, options: options)
    }
    let output = Output(arguments)
    var flow: Flow?
    do throws(ScriptError) {
      let opened = try Flow.open(
        to: Endpoint(address: remote.address, port: remote.port),
        sourcePort: try? arguments.integer("--sport", as: UInt16.self), guardResets: arguments.has("--guard"))
      flow = opened
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      let checksum = arguments.value("--checksum").flatMap { text in
        Arguments.parseInteger(text.hasPrefix("0x") ? text : "0x" + text, as: UInt16.self)
      }
      let urgent = try? arguments.integer("--urgent", as: UInt16.self)
      let identification = try? arguments.integer("--id", as: UInt16.self)
      let ttl = try? arguments.integer("--ttl", as: UInt8.self)
      let dataOffset = try? arguments.integer("--data-offset", as: UInt8.self)
      let seq = (try? arguments.integer("--seq", as: UInt32.self)) ?? nil
      try opened.send(
        flags, seq: seq, ack: (try? arguments.integer("--ack", as: UInt32.self)) ?? nil,
        window: (try? arguments.integer("--window", as: UInt16.self)) ?? nil, options: options,
        payload: payload, step: "send"
      ) { ip, tcp in
        if let checksum { tcp.checksum = checksum }
        if let urgent { tcp.urgentPointer = urgent }
        if let identification { ip.identification = identification }
        if let ttl { ip.timeToLive = ttl }
        if let dataOffset { tcp.dataOffset = dataOffset }
      }
      if let expected {
        let reply = try opened.expect(.flags(expected), within: timeout, step: "send: waiting for a reply")
        if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
        output.writeFiles(opened)
        output.result(ok: true, command: "send", flow: opened, message: "got the expected reply: \(reply.summary)")
      } else {
        _ = try opened.receiveAll(for: timeout)
        if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
        output.writeFiles(opened)
        let replies = opened.transcript.entries.filter { $0.direction == .received }.count
        output.result(
          ok: true, command: "send", flow: opened,
          message: replies == 0 ? "sent; no reply within \(ScriptError.format(timeout))" : "sent; \(replies) repl\(replies == 1 ? "y" : "ies")")
      }
      opened.close()
      return 0
    } catch {
      if let flow, let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
      if let flow { output.writeFiles(flow) }
      return Common.report(error, output: output, command: "send", flow: flow)
    }
  }

  /// tcpdump letters (`S`, `S.`, `F.`, `R`, `SA`, `FA`, `PA`), names (`syn,ack`), or `none`.
  static func parseFlags(_ text: String, option: String) throws(UsageError) -> TCPFlags {
    if text.lowercased() == "none" || text == "0" { return [] }
    guard let flags = TCPFlags(parsing: text) else {
      throw UsageError("\(option): \"\(text)\" is not a set of TCP flags (like S, S., F., P., R, SA, syn,ack, none)")
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

  /// `mss=1460`, `wscale=7`, `sackok`, `ts=VAL:ECR`, `nop`, `eol`, `sack=L-R,L-R`,
  /// `raw=KIND:HEX` (kind then the bytes verbatim: the length octet is yours to lie with).
  static func parseOption(_ text: String) throws(UsageError) -> TCPOption {
    let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
    let name = parts.first?.lowercased() ?? ""
    let value = parts.count > 1 ? parts[1] : nil
    func bad() -> UsageError {
      UsageError("--option: \"\(text)\" is not an option (mss=N, wscale=N, sackok, ts=VAL:ECR, nop, eol, raw=KIND:HEX)")
    }
    switch name {
    case "nop": return .noOperation
    case "eol": return .endOfOptionList
    case "sackok", "sack-perm", "sackpermitted": return .sackPermitted
    case "mss":
      guard let value, let mss = Arguments.parseInteger(value, as: UInt16.self) else { throw bad() }
      return .maximumSegmentSize(mss)
    case "wscale":
      guard let value, let scale = Arguments.parseInteger(value, as: UInt8.self) else { throw bad() }
      return .windowScale(scale)
    case "ts":
      guard let value else { throw bad() }
      let numbers = value.split(separator: ":").map { Arguments.parseInteger(String($0), as: UInt32.self) }
      guard numbers.count == 2, let tsValue = numbers[0], let echo = numbers[1] else { throw bad() }
      return .timestamps(value: tsValue, echoReply: echo)
    case "raw":
      guard let value else { throw bad() }
      let pieces = value.split(separator: ":", maxSplits: 1).map(String.init)
      guard let kind = Arguments.parseInteger(pieces[0], as: UInt8.self) else { throw bad() }
      let bytes = pieces.count > 1 ? try parseHex(pieces[1], option: "--option") : []
      return .raw(kind: kind, bytes: bytes)
    default:
      throw bad()
    }
  }
}

