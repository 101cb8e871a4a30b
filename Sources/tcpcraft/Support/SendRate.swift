import Glibc
import PacketKit
import RawSocket
import Synchronization
import TCPScript

/// Ctrl-C during a rate send or a ring capture: the first SIGINT asks the loop to stop (so the
/// summary and the pcap are still written); a second one kills as usual.
enum InterruptFlag {
  static let flag = Atomic<Bool>(false)

  static var isSet: Bool { flag.load(ordering: .relaxed) }

  static func install() {
    flag.store(false, ordering: .relaxed)
    // SIGTERM (kill, a test harness, systemd) stops the loop the same way as Ctrl-C.
    for signalNumber in [SIGINT, SIGTERM] {
      // signal(2) fails only for an invalid number or SIGKILL/SIGSTOP: not these two.
      try? SignalDisposition.handle(signalNumber) { received in
        InterruptFlag.flag.store(true, ordering: .relaxed)
        try? SignalDisposition.restoreDefault(received)
      }
    }
  }

  static func uninstall() {
    try? SignalDisposition.restoreDefault(SIGINT)
    try? SignalDisposition.restoreDefault(SIGTERM)
  }
}

/// `tcpcraft send HOST:PORT --flags FLAGS --count N [--rate PPS] [--duration S] ...`: the same
/// segment as `send`, many times, with fields walking per packet, as fast as the kernel takes
/// them or paced exactly. Layer 3 by default (raw socket, `sendmmsg` batches); `--iface NAME` or
/// `--l2` sends Ethernet frames through a `PACKET_TX_RING`.
///
/// Entry point: `SendRate.run(arguments, remote:flags:payload:options:)`, called by
/// `SendCommand.run` when `SendRate.isRequested(arguments)`.
enum SendRate {
  /// Options this mode adds to `send` (part of `SendCommand.spec`).
  static let options = OptionGroup(
    "at rate (any of --count, --rate, --duration):",
    [
      .integer("--count", UInt64.self, range: 1...UInt64.max, "N", "send the segment N times"),
      .integer("--rate", UInt32.self, range: 1...100_000_000, "PPS", "packets per second, paced exactly (default: as fast as the kernel takes them)"),
      .seconds("--duration", "stop after this long even if N is not reached (default 60)"),
      .repeatable("--walk", "FIELD[:SPEC]", "change a field per packet: seq, ack, id (IPv4), flow (IPv6), sport, dport, window, flags (default seq:1)"),
      .integer("--batch", UInt16.self, range: 1...1024, "N", "packets a sendmmsg call or TX ring flush"),
      .string("--src", "A", "our source address, of the target's family (default: the route's)"),
      .toggle("--l2", "Ethernet frames through a PACKET_TX_RING instead of a raw IPv4/IPv6 socket"),
      .string("--iface", "NAME", "send at layer 2 through this interface (implies --l2)"),
      .string("--src-mac", "MAC", "the frames' source MAC (default: the interface's)"),
      .string("--dst-mac", "MAC", "the frames' destination MAC (default: the neighbour's)"),
      .toggle("--qdisc-bypass", "skip the queueing discipline (PACKET_QDISC_BYPASS)"),
    ])

  /// Whether `send` should run in rate mode (`--count`, `--rate` or `--duration` given).
  static func isRequested(_ arguments: Arguments) -> Bool {
    arguments.has("--count") || arguments.has("--rate") || arguments.has("--duration")
  }

  /// What the command line asked for, checked.
  struct Plan {
    var count: Int
    var rate: Int?
    var duration: Duration
    var durationGiven: Bool
    var walks: [FieldWalk]
    var layer2: Bool
    var interface: String?
    var batch: Int?
  }

  static func parsePlan(
    _ arguments: Arguments, sourcePort: UInt16, sequence: UInt32, identification: UInt16, destinationPort: UInt16,
    ipv6: Bool = false, flowLabel: UInt32 = 0
  ) throws(UsageError) -> Plan {
    for option in ["--expect", "--guard", "--pcap"] where arguments.has(option) {
      throw UsageError("send: \(option) cannot be combined with --count/--rate/--duration (rate mode sends without waiting)")
    }
    let count = arguments.integer("--count", as: UInt64.self)
    let rate = arguments.integer("--rate", as: UInt32.self)
    let duration = arguments.seconds("--duration")
    let batch = arguments.integer("--batch", as: UInt16.self)
    var walks: [FieldWalk] = []
    for text in arguments.all("--walk") {
      let walk = try parseWalk(
        text, sourcePort: sourcePort, sequence: sequence, identification: identification, destinationPort: destinationPort,
        flowLabel: flowLabel)
      switch walk {
      case .identification where ipv6:
        throw UsageError("--walk: \"\(text)\": id is the IPv4 identification; an IPv6 header has none (walk flow, the flow label)")
      case .flowLabel where !ipv6:
        throw UsageError("--walk: \"\(text)\": flow is the IPv6 flow label; the target is IPv4 (give [ADDR]:PORT)")
      default: walks.append(walk)
      }
    }
    if walks.isEmpty { walks = [.sequenceNumber(start: sequence, step: 1)] }
    return Plan(
      count: count.map { Int(clamping: $0) } ?? Int.max, rate: rate.map(Int.init),
      duration: duration ?? RateSender.defaultMaximumDuration, durationGiven: duration != nil, walks: walks,
      layer2: arguments.has("--l2") || arguments.has("--iface"), interface: arguments.value("--iface"),
      batch: batch.map(Int.init))
  }

  /// `seq[:STEP]`, `ack[:STEP]`, `id[:STEP]`, `sport[:LO-HI]`, `dport[:LO-HI]`,
  /// `window:LO-HI`, `flags:S/SA/F./R` (tcpdump letters separated by `/`), `flow[:STEP]` (the
  /// IPv6 flow label, from `--flow-label`, modulo 2²⁰).
  static func parseWalk(
    _ text: String, sourcePort: UInt16, sequence: UInt32, identification: UInt16, destinationPort: UInt16,
    flowLabel: UInt32 = 0
  ) throws(UsageError) -> FieldWalk {
    let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
    let field = parts.first?.lowercased() ?? ""
    let spec = parts.count > 1 ? parts[1] : nil
    func bad(_ why: String) -> UsageError {
      UsageError("--walk: \"\(text)\": \(why) (seq[:STEP], ack[:STEP], id[:STEP], flow[:STEP], sport[:LO-HI], dport[:LO-HI], window:LO-HI, flags:S/SA/F.)")
    }
    func step() throws(UsageError) -> UInt32 {
      guard let spec else { return 1 }
      guard let value = Arguments.parseInteger(spec, as: UInt32.self) else { throw bad("STEP is a number") }
      return value
    }
    func range(defaultLower: UInt16) throws(UsageError) -> ClosedRange<UInt16> {
      guard let spec else { return defaultLower...65_535 }
      let bounds = spec.split(separator: "-", maxSplits: 1).map { Arguments.parseInteger(String($0), as: UInt16.self) }
      guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high else { throw bad("give LO-HI, LO <= HI") }
      return low...high
    }
    switch field {
    case "seq": return .sequenceNumber(start: sequence, step: try step())
    case "ack": return .acknowledgmentNumber(start: 0, step: try step())
    case "id":
      let value = try step()
      guard value <= UInt16.max else { throw bad("STEP fits 16 bits") }
      return .identification(start: identification, step: UInt16(value))
    case "flow": return .flowLabel(start: flowLabel, step: try step())
    case "sport": return .sourcePort(try range(defaultLower: max(1, sourcePort)))
    case "dport": return .destinationPort(try range(defaultLower: max(1, destinationPort)))
    case "window":
      guard spec != nil else { throw bad("window needs LO-HI") }
      return .window(try range(defaultLower: 0))
    case "flags":
      guard let spec, !spec.isEmpty else { throw bad("flags needs a list") }
      var list: [TCPFlags] = []
      for letters in spec.split(separator: "/") {
        list.append(try SendCommand.parseFlags(String(letters), option: "--walk flags"))
      }
      return .flags(list)
    default:
      throw bad("unknown field \"\(field)\"")
    }
  }

  static func run(_ arguments: Arguments, remote: HostPort, flags: TCPFlags, payload: [UInt8], options: [TCPOption]) -> Int32 {
    let json = arguments.has("--json")
    let quiet = arguments.has("--quiet")
    let plan: Plan
    let sourcePort: UInt16
    let sequence: UInt32
    let identification: UInt16
    var sourceOverride: IPv4Address?
    var sourceOverride6: IPv6Address?
    let ipv6 = remote.ipv6
    let flowLabel = arguments.integer("--flow-label", as: UInt32.self) ?? 0
    var sourceMAC: MACAddress?
    var destinationMAC: MACAddress?
    do throws(UsageError) {
      sourcePort = arguments.integer("--sport", as: UInt16.self) ?? UInt16.random(in: 32_768...60_999)
      sequence = arguments.integer("--seq", as: UInt32.self) ?? UInt32.random(in: 0...UInt32.max)
      identification = arguments.integer("--id", as: UInt16.self) ?? 0
      plan = try parsePlan(
        arguments, sourcePort: sourcePort, sequence: sequence, identification: identification, destinationPort: remote.port,
        ipv6: ipv6 != nil, flowLabel: flowLabel)
      if let text = arguments.value("--src") {
        if ipv6 != nil {
          guard let address = IPv6Address(text) else { throw UsageError("--src: \"\(text)\" is not an IPv6 address (the target \(remote) is IPv6)") }
          sourceOverride6 = address
        } else {
          guard let address = IPv4Address(text) else { throw UsageError("--src: \"\(text)\" is not an IPv4 address") }
          sourceOverride = address
        }
      }
      for (option, isSource) in [("--src-mac", true), ("--dst-mac", false)] {
        guard let text = arguments.value(option) else { continue }
        guard let mac = MACAddress(text) else { throw UsageError("\(option): \"\(text)\" is not a MAC address (like 02:00:00:00:00:01)") }
        if isSource { sourceMAC = mac } else { destinationMAC = mac }
      }
      if let name = plan.interface, NetworkInterfaces.index(named: name) == nil {
        throw UsageError("--iface: no interface named \"\(name)\" (see `ip link`)")
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }

    // Route: the source address and, for layer 2, the interface and MACs. With --iface and
    // --src (and --dst-mac) nothing needs looking up: a veth without an address works too.
    let routed: RoutedTarget
    switch resolve(remote: remote, ipv6: ipv6, sourceOverride: sourceOverride, sourceOverride6: sourceOverride6, interface: plan.interface) {
    case .success(let value): routed = value
    case .failure(let problem):
      Terminal.error("tcpcraft: send: route lookup for \(remote.ip) failed: \(problem) (give --src, and --iface for layer 2)")
      return 1
    }
    let interface = routed.interface
    var interfaceMAC = routed.interfaceMAC
    if plan.layer2, interfaceMAC == nil, sourceMAC == nil {
      interfaceMAC = (try? RouteLookup().interface(named: interface)).flatMap { MACAddress(bytes: $0.mac) }
    }

    // The packet, built once.
    var tcp = TCPHeader(sourcePort: sourcePort, destinationPort: remote.port, sequenceNumber: sequence, flags: flags, options: options)
    if let ack = arguments.integer("--ack", as: UInt32.self) { tcp.acknowledgmentNumber = ack }
    if let window = arguments.integer("--window", as: UInt16.self) { tcp.window = window }
    if let urgent = arguments.integer("--urgent", as: UInt16.self) { tcp.urgentPointer = urgent }
    if let offset = arguments.integer("--data-offset", as: UInt8.self) { tcp.dataOffset = offset }
    if let checksum = arguments.integer("--checksum", as: UInt16.self) { tcp.checksum = checksum }
    var packet: Packet
    switch routed.source {
    case .v6(let source):
      var ip = IPv6Header(sourceAddress: source, destinationAddress: ipv6 ?? .any, flowLabel: flowLabel & 0xF_FFFF)
      if let hopLimit = arguments.integer("--ttl", as: UInt8.self) { ip.hopLimit = hopLimit }
      packet = ip / tcp
    case .v4(let source):
      var ip = IPv4Header(sourceAddress: source, destinationAddress: remote.address, identification: identification)
      if let ttl = arguments.integer("--ttl", as: UInt8.self) { ip.timeToLive = ttl }
      packet = ip / tcp
    }
    if !payload.isEmpty { packet = packet / payload }
    if plan.layer2 {
      let localMAC = sourceMAC ?? interfaceMAC ?? .zero
      let nextHop = destinationMAC ?? routed.nextHopMAC
      guard let nextHop else {
        Terminal.error("tcpcraft: send: no neighbour entry for \(routed.nextHop) on \(interface): give --dst-mac")
        return 2
      }
      packet = EthernetHeader(destination: nextHop, source: localMAC, etherType: ipv6 == nil ? .ipv4 : .ipv6) / packet
    }
    let burst: Burst
    do throws(PacketError) {
      burst = try Burst(packet, walks: plan.walks)
    } catch {
      Terminal.error("tcpcraft: send: cannot build the segment: \(error)")
      return 2
    }

    // The transmitter.
    let transmitter: any BurstTransmitter
    var closers: [() -> Void] = []
    defer { for close in closers { close() } }
    do {
      if plan.layer2 {
        let ring = try PacketTXRing(
          interface: interface, maximumFrameLength: burst.maximumLength,
          geometry: .transmit(maximumFrameLength: burst.maximumLength, frames: max(plan.batch ?? 1024, 1024)),
          bypassQueueingDiscipline: arguments.has("--qdisc-bypass"))
        closers.append { ring.close() }
        transmitter = TXRingTransmitter(ring: ring, batchSize: plan.batch)
      } else if let ipv6 {
        let socket = try RawIPv6Socket()
        closers.append { socket.close() }
        transmitter = RawIPv6Transmitter(socket: socket, destination: ipv6, batchSize: plan.batch ?? 256)
      } else {
        let socket = try RawIPv4Socket()
        closers.append { socket.close() }
        transmitter = RawIPv4Transmitter(socket: socket, destination: remote.address, batchSize: plan.batch ?? 256)
      }
    } catch {
      Terminal.error("tcpcraft: \(KernelTransport.scriptError(error, step: "send: opening the socket").description)")
      return 1
    }

    let sender = RateSender(
      burst: burst, transmitter: transmitter, count: plan.count, rate: plan.rate, maximumDuration: plan.duration,
      batchSize: plan.batch)
    let progress = ProgressLine(enabled: !quiet && !json)
    sender.progressInterval = .milliseconds(250)
    sender.onProgress = { report in progress.show(report) }
    InterruptFlag.install()
    sender.shouldStop = { InterruptFlag.isSet }
    defer { InterruptFlag.uninstall() }
    if !quiet && !json {
      let how = plan.layer2 ? "layer 2, TX ring on \(interface)" : "layer 3, sendmmsg"
      let what = plan.count == .max ? "for \(ScriptError.format(plan.duration))" : "\(plan.count) packets"
      let pace = plan.rate.map { "at \($0) packets/s" } ?? "as fast as possible"
      Terminal.error("tcpcraft: sending \(what) to \(remote) \(pace) (\(how), batches of \(sender.batchSize))")
    }
    let report: RateReport
    do {
      report = try sender.run()
    } catch {
      progress.finish()
      Terminal.error("tcpcraft: \(KernelTransport.scriptError(error, step: "send").description)")
      return 1
    }
    progress.finish()
    // Not as asked: errors, or a count cut short by the default bound or Ctrl-C.
    let cutShort = report.stop == .interrupted || (report.stop == .duration && plan.count != .max && !plan.durationGiven)
    let ok = report.errors == 0 && !cutShort
    if json {
      var line = JSONLine()
      line.add("type", "result")
      line.add("command", "send")
      line.add("ok", ok)
      line.add("sent", report.sent)
      line.add("errors", report.errors)
      line.add("elapsed", seconds(report.elapsed))
      line.add("rate", report.rate.rounded())
      if let rate = plan.rate { line.add("target_rate", rate) }
      line.add("layer", plan.layer2 ? 2 : 3)
      line.add("stopped_by", report.stop?.rawValue ?? "count")
      Terminal.out(line.description)
    } else {
      Terminal.out("tcpcraft: \(report.description)")
      if report.stop == .duration && plan.count != .max {
        Terminal.error("tcpcraft: stopped after \(ScriptError.format(plan.duration))\(plan.durationGiven ? "" : " (the default bound; raise it with --duration)")")
      } else if report.stop == .interrupted {
        Terminal.error("tcpcraft: interrupted")
      }
    }
    return ok ? 0 : 1
  }

  /// Where a rate send goes out: the source address, the interface and the next hop's MAC.
  struct RoutedTarget {
    var source: IPAddress
    var interface: String
    var interfaceMAC: MACAddress?
    /// The next hop's MAC for layer 2 (zero on loopback or to a local address); `nil`: unknown.
    var nextHopMAC: MACAddress?
    /// The next hop's address, for the message when its MAC is unknown.
    var nextHop: String
  }

  /// The route to `remote` (either family), with `--src` and `--iface` taking precedence.
  static func resolve(
    remote: HostPort, ipv6: IPv6Address?, sourceOverride: IPv4Address?, sourceOverride6: IPv6Address?, interface: String?
  ) -> Result<RoutedTarget, RouteProblem> {
    var route: RouteLeg?
    var problem = ""
    do { route = try RouteLeg(to: ipv6.map(IPAddress.v6) ?? .v4(remote.address)) } catch { problem = "\(error)" }
    let name = interface ?? route?.interfaceName ?? ""
    let override = ipv6 == nil ? sourceOverride.map(IPAddress.v4) : sourceOverride6.map(IPAddress.v6)
    guard let source = override ?? route?.source, !name.isEmpty else {
      return .failure(RouteProblem(text: problem.isEmpty ? "no source address" : problem))
    }
    let link = linkLayer(
      name: name, routeInterface: route?.interfaceName, isLocal: route?.isLocal ?? false,
      nextHopMAC: route?.nextHopMAC, interfaceMAC: route?.interfaceMAC)
    return .success(
      RoutedTarget(
        source: source, interface: name, interfaceMAC: link.interfaceMAC, nextHopMAC: link.nextHopMAC,
        nextHop: route?.nextHop ?? (ipv6?.description ?? remote.address.description)))
  }

  /// What `resolve` takes from the kernel's route to an address of either family.
  private struct RouteLeg {
    var interfaceName: String
    var isLocal: Bool
    var nextHopMAC: [UInt8]?
    var interfaceMAC: [UInt8]
    var source: IPAddress?
    var nextHop: String

    init(to destination: IPAddress) throws(NetlinkError) {
      switch destination {
      case .v4(let address):
        let route = try RouteLookup.route(to: address.rawValue)
        (interfaceName, isLocal, nextHopMAC, interfaceMAC) = (route.interfaceName, route.isLocal, route.nextHopMAC, route.interfaceMAC)
        source = .v4(IPv4Address(rawValue: route.sourceAddress))
        nextHop = IPv4Address(rawValue: route.nextHop).description
      case .v6(let address):
        let route = try RouteLookup.route(toIPv6: address.octets)
        (interfaceName, isLocal, nextHopMAC, interfaceMAC) = (route.interfaceName, route.isLocal, route.nextHopMAC, route.interfaceMAC)
        source = route.sourceAddress.map { .v6(IPv6Address(octets: $0)) }
        nextHop = IPv6Address(octets: route.nextHop).description
      }
    }
  }

  /// The layer-2 part of a route (either family) leaving by `name`: both MACs only when the route
  /// itself uses that interface; the next hop's is zero on loopback or to a local address.
  private static func linkLayer(
    name: String, routeInterface: String?, isLocal: Bool, nextHopMAC: [UInt8]?, interfaceMAC: [UInt8]?
  ) -> (interfaceMAC: MACAddress?, nextHopMAC: MACAddress?) {
    guard routeInterface == name else { return (nil, nil) }
    let hop: MACAddress? = isLocal || name == "lo" ? .zero : nextHopMAC.flatMap { MACAddress(bytes: $0) }
    return (interfaceMAC.flatMap { MACAddress(bytes: $0) }, hop)
  }

  struct RouteProblem: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
  }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
  }
}

/// The progress line on standard error: rewritten in place on a terminal, a plain line about
/// once a second otherwise.
final class ProgressLine {
  private let enabled: Bool
  private let terminal: Bool
  private var shown = false
  private var lastLine: Duration = .zero

  init(enabled: Bool) {
    self.enabled = enabled
    terminal = FileDescriptor.standardError.isTerminal
  }

  func show(_ report: RateReport) {
    guard enabled else { return }
    let text = "tcpcraft: \(report.sent) sent, \(report.errors) errors, \(RateReportText.seconds(report.elapsed)) s, \(Int(report.rate.rounded())) packets/s"
    if terminal {
      writeStandardError("\r\u{1B}[K" + text)
      shown = true
    } else if report.elapsed - lastLine >= .seconds(1) {
      lastLine = report.elapsed
      writeStandardError(text + "\n")
    }
  }

  func finish() {
    if shown { writeStandardError("\r\u{1B}[K") }
    shown = false
  }

  private func writeStandardError(_ text: String) {
    try? FileDescriptor.standardError.writeAll(Array(text.utf8))
  }
}

enum RateReportText {
  /// `1.234`.
  static func seconds(_ duration: Duration) -> String {
    let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    let fraction = String(milliseconds % 1000)
    return "\(milliseconds / 1000)." + String(repeating: "0", count: max(0, 3 - fraction.count)) + fraction
  }
}
