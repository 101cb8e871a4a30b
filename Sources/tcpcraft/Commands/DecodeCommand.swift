import Foundation
import PacketKit
import RawSocket

/// `tcpcraft decode (--pcap FILE | HEX...)`: one tcpdump-style summary line for every packet,
/// malformed ones included (what is wrong is said on that line, in brackets).
enum DecodeCommand: Command {
  static let spec = CommandSpec(
    name: "decode",
    summary: "decode packets from a pcap file or hex (no privileges needed)",
    synopsis: ["--pcap FILE [options]", "[options] HEX..."],
    about: """
      Prints one line per packet, identical to `tcpdump -nn -S -t` for IPv4 TCP, UDP and ICMP,
      followed by a note in brackets for every problem tcpdump would not show without -v:
        [bad tcp cksum 0x1234 -> 0x0a39]   stored checksum, then the correct one (ip/tcp/udp/icmp)
        [ip length 60 > 40 bytes present]  IPv4 total length longer than the data (also udp)
        [tcp option 8 at +2 length 10 overruns (2 left)], [bad tcp data offset 4], ...
      Malformed packets are never skipped. HEX...: packets as hex, one argument each (spaces, ':'
      and '0x' allowed). A kernel segment captured before checksum offload finished it holds only
      the pseudo-header sum: it is marked too and, with --pcap, counted in one line on stderr at the end
      (kernel fact 6); --checksum-not-ready leaves such checksums unmarked.

      Exit status: 0 decoded (even malformed packets), 2 bad usage, unreadable file or bad hex.
      """,
    options: [
      OptionGroup([
        .string("--pcap", aliases: ["-r"], "FILE", "a pcap or pcapng file (µs or ns, either byte order; \"-\" reads stdin)"),
        .string("--link-type", "TYPE", "for HEX: ethernet, ipv4, ipv6 (or raw), null, sll, sll2 (default: by the first byte)"),
        .toggle("--checksum-not-ready", "a TCP/UDP checksum holding only the pseudo-header sum is not bad (kernel fact 6)"),
        .toggle("--show", "after each line, the field tree and a hexdump"),
        .toggle("--hex", "after each line, a hexdump (tcpdump -xx style)"),
      ])
    ],
    examples: [
      "tcpcraft decode --pcap capture.pcap",
      "tcpcraft decode 4500002800010000400666c00a0000010a000002",
      "tcpcraft decode --show '45 00 00 28 00 01 00 00 40 06 ...'",
    ])

  /// Decode's messages start `tcpcraft decode:` (and its output can go to closures, for tests).
  static func main(_ argv: [String]) -> Int32 { run(argv) }

  static func run(_ arguments: Arguments) -> Int32 {
    do throws(UsageError) {
      return run(try settings(arguments), output: standardOutput, write: writeStandardOutput, error: standardError)
    } catch {
      return usageFailure(error, error: standardError)
    }
  }

  static func run(_ arguments: [String]) -> Int32 {
    run(arguments, output: standardOutput, error: standardError)
  }

  static func standardOutput(_ line: String) { print(line) }
  /// A chunk of summary lines straight to the file descriptor (one run uses either this or
  /// `standardOutput`, never both, so their order cannot mix).
  static func writeStandardOutput(_ text: [UInt8]) {
    try? FileDescriptor.standardOutput.writeAll(text)
  }
  static func standardError(_ message: String) {
    try? FileDescriptor.standardError.writeAll(Array((message + "\n").utf8))
  }

  static func usageFailure(_ failure: UsageError, error: (String) -> Void) -> Int32 {
    let message = failure.description
    error("tcpcraft decode: " + (message.hasPrefix("decode: ") ? String(message.dropFirst(8)) : message))
    return 2
  }

  struct Settings {
    var pcapPath: String?
    var hexPackets: [String] = []
    var linkType: LinkType?
    var show = false
    var hex = false
    var options = DissectionOptions(interfaceNames: NetworkInterfaces.namesByIndex())
  }

  /// The command with its output and errors sent to closures (testable).
  static func run(_ arguments: [String], output: (String) -> Void, error: (String) -> Void) -> Int32 {
    let settings: Settings
    do throws(UsageError) {
      guard let parsed = try parse(arguments) else {
        output(Help.text(for: spec))
        return 0
      }
      settings = parsed
    } catch let failure {
      return usageFailure(failure, error: error)
    }
    return run(settings, output: output, error: error)
  }

  /// Decodes what `settings` name; a pcap file's summary lines reach `output` one line each.
  static func run(_ settings: Settings, output: (String) -> Void, error: (String) -> Void) -> Int32 {
    run(
      settings, output: output,
      write: { text in
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
          output(String(decoding: line, as: UTF8.self))
        }
      }, error: error)
  }

  /// Decodes what `settings` name: `output` takes whole lines (hex packets, `--show` trees),
  /// `write` chunks of newline-terminated summary lines as UTF-8 (a pcap file's lines are written
  /// into one reused buffer and handed over about 64 KiB at a time).
  static func run(
    _ settings: Settings, output: (String) -> Void, write: ([UInt8]) -> Void, error: (String) -> Void
  ) -> Int32 {
    if let path = settings.pcapPath {
      return decodePcap(path, settings, output: output, write: write, error: error)
    }
    var frames: [[UInt8]] = []
    for (index, text) in settings.hexPackets.enumerated() {
      switch parseHex(text) {
      case .success(let bytes): frames.append(bytes)
      case .failure(let problem):
        error("tcpcraft decode: bad hex in packet \(index + 1): \(problem.description)")
        return 2
      }
    }
    for frame in frames {
      let linkType = settings.linkType ?? ((0x45...0x4F).contains(frame.first ?? 0) ? .ipv4 : .ethernet)
      emit(frame, linkType: linkType, settings, output: output)
    }
    return 0
  }

  /// The settings `arguments` ask for, or `nil` for `--help`.
  static func parse(_ argv: [String]) throws(UsageError) -> Settings? {
    let arguments = try Arguments(argv, spec: spec)
    if arguments.wantsHelp { return nil }
    return try settings(arguments)
  }

  static func settings(_ arguments: Arguments) throws(UsageError) -> Settings {
    var settings = Settings()
    settings.pcapPath = arguments.value("--pcap")
    settings.hexPackets = arguments.positionals
    if let name = arguments.value("--link-type") {
      guard let linkType = linkType(named: name) else {
        throw UsageError("unknown link type '\(name)' (ethernet, ipv4, ipv6, raw, null, sll, sll2)")
      }
      settings.linkType = linkType
    }
    settings.options.checksumNotReady = arguments.has("--checksum-not-ready")
    settings.show = arguments.has("--show")
    settings.hex = arguments.has("--hex")
    if settings.pcapPath != nil && !settings.hexPackets.isEmpty {
      throw UsageError("give either --pcap FILE or HEX packets, not both")
    }
    if settings.pcapPath == nil && settings.hexPackets.isEmpty {
      throw UsageError("nothing to decode: give --pcap FILE or HEX packets (see --help)")
    }
    return settings
  }

  static func linkType(named name: String) -> LinkType? {
    switch name.lowercased() {
    case "ethernet", "ether", "en10mb", "1": .ethernet
    case "ipv4", "ip", "228": .ipv4
    case "ipv6", "ip6", "229": .ipv6
    case "raw", "101": .raw
    case "null", "loopback", "0": .null
    case "sll", "linux_sll", "113": .linuxSLL
    case "sll2", "linux_sll2", "276": .linuxSLL2
    default: nil
    }
  }

  static func parseHex(_ text: String) -> Result<[UInt8], UsageError> {
    switch HexText.bytes(text) {
    case .failure(let problem): .failure(UsageError(problem.description))
    case .success(let bytes) where bytes.isEmpty: .failure(UsageError("no bytes"))
    case .success(let bytes): .success(bytes)
    }
  }

  /// Prints `frame`'s line (and, with --show or --hex, its tree or hexdump); returns the
  /// dissection, for a caller that looks further.
  @discardableResult
  static func emit(_ frame: [UInt8], linkType: LinkType, _ settings: Settings, output: (String) -> Void) -> Dissection {
    let dissection = dissect(frame, linkType: linkType, options: settings.options)
    output(dissection.summary)
    if settings.show {
      output(dissection.show())
    } else if settings.hex {
      output(hexdump(frame, style: .tcpdump))
    }
    return dissection
  }

  static func decodePcap(
    _ path: String, _ settings: Settings, output: (String) -> Void, write: ([UInt8]) -> Void,
    error: (String) -> Void
  ) -> Int32 {
    let file: FileDescriptor
    switch openCapture(path) {
    case .success(let opened): file = opened
    case .failure(let problem):
      error("tcpcraft decode: cannot read \(path): \(problem.reason)")
      return 2
    }
    defer { if path != "-" { try? file.close() } }
    // One reused 1 MiB buffer: each read fills it, and the reader copies what it needs.
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var reader = PcapReader()
    // The lines, as UTF-8, handed to `write` whenever 64 KiB have gathered.
    var text: [UInt8] = []
    text.reserveCapacity(1 << 17)
    func flush() {
      guard !text.isEmpty else { return }
      write(text)
      text.removeAll(keepingCapacity: true)
    }
    defer { flush() }
    let detailed = settings.show || settings.hex
    // Packets marked "bad cksum" whose checksum holds only the pseudo-header sum: the kernel's
    // own segments, captured before offload finished them (kernel fact 6). Said once, at the end.
    var unfinished = 0
    defer {
      if unfinished > 0 {
        flush()
        error(
          "tcpcraft decode: \(unfinished) packet\(unfinished == 1 ? "" : "s") marked \"bad cksum\" hold\(unfinished == 1 ? "s" : "") only the pseudo-header sum: "
            + "captured before the kernel finished the checksum (offload, kernel fact 6), not corrupt; --checksum-not-ready leaves them unmarked")
      }
    }
    do throws(PcapError) {
      while true {
        let count: Int
        do throws(Errno) {
          count = try file.read(into: &chunk)
        } catch let readError {
          error("tcpcraft decode: cannot read \(path): \(readError.description)")
          return 2
        }
        if count == 0 { break }
        reader.append(chunk[0..<count])
        while let record = try reader.next() {
          let linkType = settings.linkType ?? record.linkType ?? reader.header?.linkType ?? .ethernet
          if detailed {
            flush()
            let dissection = emit(record.data, linkType: linkType, settings, output: output)
            if dissection.layers.hasProblems && unfinishedChecksum(dissection, settings) { unfinished += 1 }
            continue
          }
          let dissection = dissect(record.data, linkType: linkType, options: settings.options)
          dissection.appendSummary(to: &text)
          text.append(0x0A)
          if dissection.layers.hasProblems && unfinishedChecksum(dissection, settings) { unfinished += 1 }
          if text.count >= 1 << 16 { flush() }
        }
        if reader.header != nil && reader.header?.linkType == nil && settings.linkType == nil {
          flush()
          let value = reader.header?.linkTypeValue ?? 0
          error("tcpcraft decode: \(path): link type \(value) is not supported (try --link-type)")
          return 2
        }
      }
      try reader.finish()
    } catch let pcapError {
      flush()
      error("tcpcraft decode: \(path): \(pcapError)")
      return 2
    }
    return 0
  }

  /// Whether `dissection` (decoded without `--checksum-not-ready`) was marked for a TCP/UDP
  /// checksum that is only the unfinished pseudo-header sum.
  static func unfinishedChecksum(_ dissection: Dissection, _ settings: Settings) -> Bool {
    guard !settings.options.checksumNotReady,
      dissection.problems.contains(where: { if case .badChecksum = $0 { true } else { false } })
    else { return false }
    var options = settings.options
    options.checksumNotReady = true
    let again = PacketKit.dissect(dissection.bytes, linkType: dissection.linkType, options: options)
    return again.problems.contains { if case .checksumPartial = $0 { true } else { false } }
  }

  /// Why a capture file cannot be read, in words for "cannot read PATH: ...".
  struct OpenProblem: Error { var reason: String }

  /// Opens `path` (or standard input for `-`) for reading through RawSocket's seam: a symbolic
  /// link is refused, not followed (kernel fact 14); a directory is refused before any read.
  static func openCapture(_ path: String) -> Result<FileDescriptor, OpenProblem> {
    if path == "-" { return .success(.standardInput) }
    let file: FileDescriptor
    do throws(Errno) {
      file = try FileDescriptor.openForReading(path: path)
    } catch {
      let reason: String
      switch error.rawValue {
      case ENOENT: reason = "no such file"
      case ELOOP: reason = "is a symbolic link (not followed; give the target's path)"
      case EACCES, EPERM: reason = "permission denied"
      default: reason = error.description
      }
      return .failure(OpenProblem(reason: reason))
    }
    if let status = file.status(), status.isDirectory {
      try? file.close()
      return .failure(OpenProblem(reason: "is a directory"))
    }
    return .success(file)
  }
}
