import Foundation
import PacketKit
import TCPScript

/// `tcpcraft probe`: run named edge cases against a real TCP stack and print a conformance table
/// (case, RFC, expected, observed, verdict, evidence); `--list` describes the catalog;
/// `--generate FIELD` prints a family of segments for harnesses.
enum ProbeCommand: Command {
  static let spec = CommandSpec(
    name: "probe",
    summary: "edge-case segments against a real stack: a conformance table with RFC and evidence",
    synopsis: [
      "HOST:PORT (--all | --case NAME ...) [options]",
      "--list [--json]",
      "[HOST:PORT] --generate FIELD|all [--random --count N] [--seed N] [--bytes] [--json] [--pcap FILE]",
    ],
    about: """
      Sends edge-case segments a normal stack never sends to a real one, each case on a fresh
      source port (and, where it needs one, a fresh connection opened by hand), and prints a
      conformance table: the case, the RFC that governs it, the reaction a conforming stack shows,
      what came back, and the verdict (conforms / deviates / no reply / inconclusive), with the
      evidence under each row: the replies as tcpdump prints them, the kernel counters that rose
      for a silent drop (on this host or in --netns), or "no reply within T".
      Frames leave at layer 2 (AF_PACKET), so malformed IPv4 headers stay as built. A progress
      line goes to stderr while it runs. Each case ends with a RST for what it left open.

      Generators (without HOST:PORT nothing is sent and no privileges are needed; with it, each
      segment goes to the target from a fresh port and the replies are shown beside it): the
      template SYN with FIELD walked over its boundary values; `all` walks every field. FIELD:
      \(SegmentField.allCases.map(\.rawValue).joined(separator: ", ")).
      On lo, packets go through a raw IPv4 socket whose kernel rewrites the IPv4 checksum and total
      length: walk ip-* fields against a target behind a veth or Ethernet interface.

      Exit status: 0 every case conforms; 1 some case deviates, got no reply or was inconclusive;
      2 bad usage.
      """,
    options: [
      OptionGroup([
        .toggle("--all", "every case (`--list` shows them)"),
        .repeatable("--case", "NAME", "one case; repeat for more"),
        .toggle("--list", "describe the catalog of cases"),
        .seconds("--timeout", "how long to wait for a reply, and how long silence must last (default 1)"),
        .integer("--closed-port", UInt16.self, range: 1...65535, "N", "a port nothing listens on at the target (default PORT+1)"),
        .string("--source", "ADDR", "our source address (default: the route's)"),
        .toggle("--no-guard", "no RST guard: for a --source no interface owns, whose replies draw no RST (kernel fact 7)"),
        .string("--netns", "NAME", "the target's network namespace, to read its kernel counters"),
        .string("--iface", "NAME", "send through this interface (default: the route's)"),
        .string("--dst-mac", "MAC", "the next hop's MAC on --iface (default: the neighbour's)"),
        .integer("--seed", UInt64.self, "N", "source ports, ISNs and IDs from this seed (same seed, same segments)"),
        .toggle("--bytes", "the bytes of every crafted packet and every reply"),
        .string("--pcap", "FILE", "every packet sent and received (setup and cleanup included)"),
        .toggle("--json", "one JSON object a case, then a summary object"),
      ]),
      OptionGroup(
        "generators:",
        [
          .string("--generate", "FIELD", "the template SYN with FIELD (or `all`) walked over its boundary values"),
          .toggle("--random", "instead, --count N segments with random fields and values from --seed"),
          .integer("--count", UInt32.self, range: 1...100_000, "N", "how many --random segments (default 20)"),
        ]),
    ],
    examples: [
      "tcpcraft demo --serve --port 8080 &          # a kernel listener to practise on",
      "sudo tcpcraft probe 127.0.0.1:8080 --all",
      "sudo tcpcraft probe 127.0.0.1:8080 --case est-rst-in-window --case closed-syn --bytes",
      "tcpcraft probe --list",
      "tcpcraft probe --generate data-offset --bytes",
      "tcpcraft probe --generate all --random --count 50 --seed 7 --pcap fuzz.pcap",
      "sudo tcpcraft probe 127.0.0.1:8080 --generate wscale --timeout 0.3",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    if arguments.has("--list") { return list(json: arguments.has("--json")) }
    if arguments.has("--generate") && arguments.positionals.isEmpty { return generate(arguments, runner: nil) }

    let cases: [EdgeCase]
    let configuration: ProbeConfiguration
    do throws(UsageError) {
      let target = try arguments.target(
        command: "probe", missing: "probe: give the target as HOST:PORT (see `tcpcraft probe --help`)",
        defaultHost: 0x7F00_0001)
      cases = arguments.has("--generate") ? [] : try selectCases(arguments)
      var config = ProbeConfiguration(target: Endpoint(address: target.address, port: target.port))
      config.closedPort = arguments.integer("--closed-port", as: UInt16.self)
      if let text = arguments.value("--source") {
        guard let address = IPv4Text.parse(text) else { throw UsageError("--source: \"\(text)\" is not an IPv4 address") }
        config.sourceAddress = address
      }
      config.guardResets = !arguments.has("--no-guard")
      config.replyTimeout = arguments.seconds("--timeout") ?? .seconds(1)
      config.counterNamespace = arguments.value("--netns")
      config.interface = arguments.value("--iface")
      if let text = arguments.value("--dst-mac") {
        guard let mac = MACAddress(text) else { throw UsageError("--dst-mac: \"\(text)\" is not a MAC address") }
        config.destinationMAC = (0..<6).map { UInt8(truncatingIfNeeded: mac.rawValue >> UInt64(40 - 8 * $0)) }
      }
      if let seed = arguments.integer("--seed", as: UInt64.self) {
        config.seed = seed
      } else {
        var system = SystemRandomNumberGenerator()
        config.seed = system.next() >> 1
      }
      configuration = config
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }

    let json = arguments.has("--json")
    let runner: ProbeRunner
    do throws(ScriptError) {
      var config = configuration
      if config.interface != nil && (config.sourceMAC == nil || config.destinationMAC == nil || config.sourceAddress == nil) {
        let route = try ProbeLink.route(to: config.target.address)
        config.sourceMAC = config.sourceMAC ?? route.sourceMAC
        config.destinationMAC = config.destinationMAC ?? route.destinationMAC
        config.sourceAddress = config.sourceAddress ?? route.source
      }
      try KernelTransport.requirePrivileges(config.guardResets ? [.netRaw, .netAdmin] : [.netRaw])
      let probe = try ProbeRunner(config)
      if config.counterNamespace == nil && probe.interfaceName == "lo" {
        config.readsLocalCounters = true
        runner = try ProbeRunner(config)
      } else {
        runner = probe
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 1
    }

    if arguments.has("--generate") { return generate(arguments, runner: runner) }
    if !json {
      Terminal.out(
        "probing \(IPv4Text.format(configuration.target.address)):\(configuration.target.port) "
          + "(closed port \(runner.closedPort)) from \(IPv4Text.format(runner.sourceAddress)) via \(runner.interfaceName): "
          + "\(cases.count) case\(cases.count == 1 ? "" : "s"), wait \(ScriptError.format(configuration.replyTimeout)) for replies, "
          + "seed \(configuration.seed) (--seed replays the same ports and numbers)")
    }
    let interactive = isatty(2) != 0
    let results = runner.run(cases) { index, count, edgeCase in
      let line = "[\(index)/\(count)] \(edgeCase.name): \(edgeCase.summary)"
      if interactive {
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
      } else {
        Terminal.error(line)
      }
    }
    if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }

    if json {
      for result in results { Terminal.out(jsonLine(result, bytes: arguments.has("--bytes")).description) }
    } else {
      printTable(results, bytes: arguments.has("--bytes"))
    }
    var counts: [Verdict: Int] = [:]
    for result in results { counts[result.verdict, default: 0] += 1 }
    if let path = arguments.value("--pcap") {
      if !writePcap(results, to: absolute(path)) { return 1 }
    }
    let summary = Verdict.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
    if json {
      var line = JSONLine()
      line.add("type", "summary")
      line.add("cases", results.count)
      line.add("seed", String(configuration.seed))
      for verdict in Verdict.allCases { line.add(verdict.rawValue, counts[verdict] ?? 0) }
      line.add("kernel_counters", configuration.counterNamespace ?? (runner.interfaceName == "lo" ? "host" : "none"))
      Terminal.out(line.description)
    } else {
      Terminal.out("")
      Terminal.out("\(results.count) cases: \(summary)")
      if let path = arguments.value("--pcap") { Terminal.out("wrote every packet to \(absolute(path))") }
    }
    return results.allSatisfy { $0.verdict == .conforms } ? 0 : 1
  }

  static func selectCases(_ arguments: Arguments) throws(UsageError) -> [EdgeCase] {
    if arguments.has("--all") { return EdgeCaseCatalog.all }
    let names = arguments.all("--case")
    guard !names.isEmpty else { throw UsageError("probe: say which cases: --all, or --case NAME (see `tcpcraft probe --list`)") }
    var cases: [EdgeCase] = []
    for name in names {
      guard let found = EdgeCaseCatalog.named(name) else {
        throw UsageError("probe: no case \"\(name)\" (see `tcpcraft probe --list`)")
      }
      cases.append(found)
    }
    return cases
  }

  // MARK: - Output

  static func list(json: Bool) -> Int32 {
    for edgeCase in EdgeCaseCatalog.all {
      if json {
        var line = JSONLine()
        line.add("case", edgeCase.name)
        line.add("summary", edgeCase.summary)
        line.add("setup", edgeCase.setup.description)
        line.add("layer", edgeCase.layer.rawValue)
        line.add("rfc", edgeCase.rfc)
        line.add("requirement", edgeCase.requirement.rawValue)
        line.add("rule", edgeCase.rule)
        line.add("expected", edgeCase.expected.description)
        Terminal.out(line.description)
      } else {
        Terminal.out("\(edgeCase.name)")
        Terminal.out("    sends:    \(edgeCase.summary)\(edgeCase.layer == .ipv4 ? " (layer 2, IPv4 header as built)" : "")")
        Terminal.out("    state:    \(edgeCase.setup)")
        Terminal.out("    expected: \(edgeCase.expected)")
        Terminal.out("    rule:     \(edgeCase.rfc) [\(edgeCase.requirement.rawValue)] \(edgeCase.rule)")
      }
    }
    if !json { Terminal.out("\(EdgeCaseCatalog.all.count) cases") }
    return 0
  }

  static func pad(_ text: String, _ width: Int) -> String {
    if text.count > width { return String(text.prefix(width - 1)) + "…" }
    return text + String(repeating: " ", count: width - text.count)
  }

  static func printTable(_ results: [ProbeResult], bytes: Bool) {
    let header =
      pad("CASE", 26) + " " + pad("RFC", 30) + " " + pad("EXPECTED", 42) + " " + pad("OBSERVED", 44) + " VERDICT"
    Terminal.out("")
    Terminal.out(header)
    Terminal.out(String(repeating: "-", count: header.count))
    for result in results {
      let edgeCase = result.edgeCase
      let rfc = "\(edgeCase.rfc) \(edgeCase.requirement.rawValue)"
      Terminal.out(
        pad(edgeCase.name, 26) + " " + pad(rfc, 30) + " " + pad(edgeCase.expected.description, 42) + " "
          + pad(result.observed, 44) + " " + result.verdict.rawValue)
      for line in result.evidence { Terminal.out("    \(line)") }
      if bytes {
        for (index, packet) in result.crafted.enumerated() {
          Terminal.out("    sent \(index + 1): \(tcpdumpSummary(ipv4: packet[...]))")
          Terminal.out(indent(hexdump(packet)))
        }
        for reply in result.replies {
          Terminal.out("    reply: \(reply.summary)")
          Terminal.out(indent(hexdump(reply.bytes)))
        }
      }
    }
  }

  static func indent(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n")
  }

  static func hex(_ bytes: [UInt8]) -> String {
    let digits: [Character] = Array("0123456789abcdef")
    var text = ""
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0x0F)])
    }
    return text
  }

  static func jsonLine(_ result: ProbeResult, bytes: Bool) -> JSONLine {
    var line = JSONLine()
    line.add("type", "case")
    line.add("case", result.edgeCase.name)
    line.add("rfc", result.edgeCase.rfc)
    line.add("requirement", result.edgeCase.requirement.rawValue)
    line.add("expected", result.edgeCase.expected.description)
    line.add("observed", result.observed)
    line.add("verdict", result.verdict.rawValue)
    line.add("sport", result.sourcePort)
    line.add("evidence", strings: result.evidence)
    line.add("replies", strings: result.replies.map(\.summary))
    if bytes {
      line.add("sent_hex", strings: result.crafted.map(hex))
      line.add("replies_hex", strings: result.replies.map { hex($0.bytes) })
    }
    return line
  }

  static func writePcap(_ results: [ProbeResult], to path: String) -> Bool {
    let records = results.flatMap(\.records).map {
      (bytes: $0.bytes, seconds: Int($0.timestampSeconds), nanoseconds: Int($0.timestampNanoseconds))
    }
    if let problem = Common.writeRawIPv4Pcap(records, to: path) {
      Terminal.error("tcpcraft: cannot write \(path): \(problem)")
      return false
    }
    return true
  }

  static func absolute(_ path: String) -> String { Common.absolute(path) }

  // MARK: - Generators

  static func generate(_ arguments: Arguments, runner: ProbeRunner?) -> Int32 {
    let fieldName = arguments.value("--generate") ?? "all"
    let fields: [SegmentField]
    let count: Int
    let seed: UInt64
    do throws(UsageError) {
      if fieldName == "all" {
        fields = SegmentField.allCases
      } else if let field = SegmentField(rawValue: fieldName) {
        fields = [field]
      } else {
        throw UsageError(
          "--generate: no field \"\(fieldName)\"; one of: all, " + SegmentField.allCases.map(\.rawValue).joined(separator: ", "))
      }
      count = Int(arguments.integer("--count", as: UInt32.self) ?? 20)
      seed = arguments.integer("--seed", as: UInt64.self) ?? 1
      try arguments.expectPositionals(atMost: 1, command: "probe")
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    var destination = Endpoint(address: 0x7F00_0001, port: 8080)
    if let text = arguments.positionals.first {
      do throws(UsageError) {
        let target = try HostPort.parse(text, defaultHost: 0x7F00_0001)
        destination = Endpoint(address: target.address, port: target.port)
      } catch {
        Terminal.error("tcpcraft: \(error.description)")
        return 2
      }
    }
    let source = Endpoint(address: runner?.sourceAddress ?? 0x7F00_0001, port: 40000)
    let generator = SegmentGenerator(source: source, destination: destination)
    let segments: [GeneratedSegment]
    if arguments.has("--random") {
      var random = SplitMix64(seed: seed)
      segments = generator.random(count: count, fields: fields, using: &random)
    } else {
      segments = fields.flatMap { generator.walk($0) }
    }
    var records: [[UInt8]] = []
    if let runner {
      // Send each one from a fresh port and show what came back.
      let interactive = isatty(2) != 0
      for (index, segment) in segments.enumerated() {
        let line = "[\(index + 1)/\(segments.count)] \(segment.label)"
        if interactive { FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8)) } else { Terminal.error(line) }
        let exchange = runner.exchange(segment.packet)
        records.append(exchange.sent)
        records.append(contentsOf: exchange.replies.map(\.bytes))
        let answer =
          exchange.problem ?? (exchange.replies.isEmpty ? "no reply within \(ScriptError.format(runner.configuration.replyTimeout))"
            : exchange.replies.map(\.brief).joined(separator: "; "))
        if arguments.has("--json") {
          var json = JSONLine()
          json.add("field", segment.field.rawValue)
          json.add("value", String(segment.value))
          json.add("sport", exchange.sourcePort)
          json.add("sent", tcpdumpSummary(ipv4: exchange.sent[...]))
          json.add("replies", strings: exchange.replies.map(\.summary))
          if let problem = exchange.problem { json.add("problem", problem) }
          if arguments.has("--bytes") {
            json.add("sent_hex", hex(exchange.sent))
            json.add("replies_hex", strings: exchange.replies.map { hex($0.bytes) })
          }
          Terminal.out(json.description)
        } else {
          Terminal.out("\(pad(segment.label, 28)) → \(answer)")
          if arguments.has("--bytes") {
            Terminal.out("    sent: \(tcpdumpSummary(ipv4: exchange.sent[...]))")
            Terminal.out(indent(hexdump(exchange.sent)))
            for reply in exchange.replies {
              Terminal.out("    reply: \(reply.summary)")
              Terminal.out(indent(hexdump(reply.bytes)))
            }
          }
        }
      }
      if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
    for segment in segments where runner == nil {
      let bytes: [UInt8]
      do {
        bytes = try segment.packet.encoded()
      } catch {
        Terminal.out("\(pad(segment.label, 28)) cannot be encoded: \(error)")
        continue
      }
      records.append(bytes)
      if arguments.has("--json") {
        var line = JSONLine()
        line.add("field", segment.field.rawValue)
        line.add("value", String(segment.value))
        line.add("summary", tcpdumpSummary(ipv4: bytes[...]))
        line.add("hex", hex(bytes))
        Terminal.out(line.description)
      } else {
        Terminal.out("\(pad(segment.label, 28)) \(tcpdumpSummary(ipv4: bytes[...]))")
        if arguments.has("--bytes") { Terminal.out(indent(hexdump(bytes))) }
      }
    }
    if let path = arguments.value("--pcap") {
      if let problem = Common.writeRawIPv4Pcap(records.map { (bytes: $0, seconds: 0, nanoseconds: 0) }, to: path) {
        Terminal.error("tcpcraft: cannot write \(path): \(problem)")
        return 1
      }
      if !arguments.has("--json") { Terminal.out("wrote \(records.count) packets to \(absolute(path))") }
    }
    return 0
  }
}
