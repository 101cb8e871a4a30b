import PacketKit
import RawSocket

#if canImport(Glibc)
import Glibc
#endif

/// Where and how to probe over IPv6: a target behind a veth (or Ethernet) reached at layer 2.
public struct IPv6ProbeConfiguration: Sendable {
  /// The target's address, its listening port and a port nothing listens on.
  public var target: IPv6Address
  public var port: UInt16
  public var closedPort: UInt16
  /// Our source address: one no interface of this host owns (the target needs a neighbour entry
  /// for it pointing at `sourceMAC`), so the host never answers the target's replies (kernel
  /// fact 7, as for IPv4).
  public var source: IPv6Address
  public var interface: String
  public var sourceMAC: MACAddress
  public var destinationMAC: MACAddress
  public var replyTimeout: Duration
  public var grace: Duration
  /// How the target's namespace is named in the evidence, and its file (`/proc/self/fd/N`) for
  /// its counters.
  public var counterNamespace: String?
  public var counterNamespaceFile: String?
  public var seed: UInt64
  /// Record the kernel's drop reasons (needs CAP_SYS_ADMIN on the host).
  public var tracesDrops = true
  /// Our source is an address this host owns (`::1` on lo, the route's source toward a target
  /// in a namespace): the host would answer the target's SYN,ACKs with RSTs (kernel fact 1), so
  /// each case installs the RST guard for its port and the IPv6 4-tuple (kernel fact 24).
  public var guardResets = false
  /// The target's kernel is this host's, seen through lo: counters are read host-wide (and are
  /// noisy, and say so).
  public var readsLocalCounters = false
  /// An `ip netns` name to read the target's counters from (when it has no `counterNamespaceFile`).
  public var counterNamespaceName: String?

  /// On lo, packets leave through a raw IPv6 socket with `IPV6_HDRINCL` (kernel fact 18: the
  /// header exactly as built, extension headers untouched); elsewhere whole at layer 2.
  public var sendsThroughRawSocket: Bool { interface == "lo" }

  /// How packets reach the target, for the evidence.
  public var pathNote: String {
    sendsThroughRawSocket
      ? "sent through a raw IPv6 socket with IPV6_HDRINCL on lo: every header exactly as built (kernel fact 18)"
      : "sent at layer 2 on \(interface) (EtherType 0x86DD): every header exactly as built"
  }

  /// A layer-2 link (or, on lo, a raw IPv6 socket) from `source` to the target. With `port` (the
  /// case's), the link leaves out our own TCP segments on lo by it, and `guardResets` installs
  /// the RST guard for it and the IPv6 4-tuple; without, no guard (echo requests only).
  func link(port: UInt16? = nil) throws(ScriptError) -> ProbeLink {
    try ProbeLink(
      interface: interface, sourceMAC: sourceMAC, destinationMAC: destinationMAC,
      local: Endpoint(address: .v6(source), port: port ?? 0), remoteAddress6: target, guardResets: guardResets && port != nil)
  }

  public init(
    target: IPv6Address, port: UInt16, closedPort: UInt16, source: IPv6Address, interface: String, sourceMAC: MACAddress,
    destinationMAC: MACAddress, replyTimeout: Duration = .seconds(1), grace: Duration = .milliseconds(150),
    counterNamespace: String? = nil, counterNamespaceFile: String? = nil, seed: UInt64 = 0x7463_7063_7261_6674
  ) {
    self.target = target
    self.port = port
    self.closedPort = closedPort
    self.source = source
    self.interface = interface
    self.sourceMAC = sourceMAC
    self.destinationMAC = destinationMAC
    self.replyTimeout = replyTimeout
    self.grace = grace
    self.counterNamespace = counterNamespace
    self.counterNamespaceFile = counterNamespaceFile
    self.seed = seed
  }
}

/// Runs IPv6 cases, one at a time: each case's packets go out whole at layer 2 (EtherType
/// 0x86DD, every header exactly as built) and are judged from the captured replies. Around every
/// case a positive control on the same path must draw its answer: an echo request its echo
/// reply, a SYN its SYN,ACK (reset at once) or, to the closed port, its RST. A failed control
/// makes the case inconclusive: path broken.
///
/// Cases that need a connection of ours (the established TCP twins) run on `Flow`s over IPv6
/// through `ProbeRunner`, one at a time, on the same link. The others involve no connection of
/// ours; each one's packets still become a `Transcript` (state CLOSED throughout) for the
/// ladder, `--explain` and pcap files.
public final class IPv6ProbeRunner {
  public let configuration: IPv6ProbeConfiguration
  private var random: SplitMix64
  private var usedPorts: Set<UInt16> = []

  public init(_ configuration: IPv6ProbeConfiguration) {
    self.configuration = configuration
    random = SplitMix64(seed: configuration.seed)
  }

  /// Runs `cases` (IPv6 ones) in order; `progress` is called as each starts.
  public func run(_ cases: [EdgeCase], progress: (Int, Int, EdgeCase) -> Void = { _, _, _ in }) -> [ProbeResult] {
    waitUntilReachable()
    // Cases that need a connection of ours run on `Flow`s over IPv6 (`ProbeRunner`), one at a
    // time, with the same link, target and seed; the others here.
    let flowCases = cases.filter(Self.runsOnFlow)
    var flowResults: [String: ProbeResult] = [:]
    if !flowCases.isEmpty {
      var flowConfiguration = ProbeConfiguration(
        target: Endpoint(address: .v6(configuration.target), port: configuration.port), closedPort: configuration.closedPort,
        guardResets: configuration.guardResets, interface: configuration.interface, sourceMAC: configuration.sourceMAC,
        destinationMAC: configuration.destinationMAC, replyTimeout: configuration.replyTimeout, grace: configuration.grace,
        counterNamespace: configuration.counterNamespace, seed: random.next())
      flowConfiguration.sourceAddress6 = configuration.source
      flowConfiguration.counterNamespaceFile = configuration.counterNamespaceFile
      flowConfiguration.tracesDrops = configuration.tracesDrops
      flowConfiguration.readsLocalCounters = configuration.readsLocalCounters
      if configuration.counterNamespaceFile == nil { flowConfiguration.counterNamespace = configuration.counterNamespaceName }
      do throws(ScriptError) {
        let runner = try ProbeRunner(flowConfiguration)
        for result in runner.run(flowCases, sequential: true) { flowResults[result.edgeCase.name] = result }
      } catch {
        for edgeCase in flowCases {
          flowResults[edgeCase.name] = ProbeResult.notReached(edgeCase, error.description)
        }
      }
    }
    let plans = cases.filter { !Self.runsOnFlow($0) }.map {
      CasePlan(edgeCase: $0, port: freshPort(), seed: random.next())
    }
    let trace = configuration.targetKernel.startDropTrace(asked: configuration.tracesDrops)
    defer { if case .success(let tracer) = trace { tracer.close() } }
    var results: [ProbeResult] = []
    for (index, plan) in plans.enumerated() {
      progress(index + 1, plans.count, plan.edgeCase)
      var run = IPv6CaseRun(runner: self, plan: plan)
      do throws(ScriptError) {
        try run.execute()
      } catch {
        run.inconclusive(error.description)
      }
      run.link?.close()
      results.append(run.result())
    }
    DropEvidence.attribute(
      &results, trace: trace, scope: configuration.targetKernel.dropScope, unownedSource: !configuration.guardResets)
    var byName: [String: ProbeResult] = flowResults
    for result in results { byName[result.edgeCase.name] = result }
    return cases.compactMap { byName[$0.name] }
  }

  /// Cases that need a connection of ours: the established ones, and SYN data and window scale,
  /// whose judges complete the handshake.
  static func runsOnFlow(_ edgeCase: EdgeCase) -> Bool {
    edgeCase.setup.kind == .established || edgeCase.expected == .synDataQueued || edgeCase.expected == .windowScaleClamped
  }

  /// A fresh IPv6 address answers only once its local route is in (kernel fact 25: a moment
  /// after it can be bound, even with `nodad`): echo requests, 50 ms apart, until one is answered
  /// (at most 2 s). Afterwards the cases' own controls judge the path.
  private func waitUntilReachable() {
    guard let link = try? configuration.link() else { return }
    defer { link.close() }
    let clock = ContinuousClock()
    let identifier = UInt16(truncatingIfNeeded: random.next())
    let request = Packet(layers: [.ipv6(IPv6Header(sourceAddress: configuration.source, destinationAddress: configuration.target))])
      / ICMPv6Header.echoRequest(identifier: identifier, sequenceNumber: 0) / "tcpcraft: are you there"
    guard let bytes = try? request.encoded() else { return }
    let local = Endpoint(address: .v6(configuration.source), port: 0)
    for _ in 0..<40 {
      guard (try? link.send(bytes, to: .v6(configuration.target))) != nil else { return }
      let deadline = clock.now.advanced(by: .milliseconds(50))
      while let packet = try? link.receive(until: deadline) {
        if let reply = ProbeReply(ipv6: packet, local: local, remotePort: 0, echoIdentifiers: [identifier]), reply.icmpType == 129 {
          return
        }
      }
    }
  }

  fileprivate func counters() -> KernelCounters? { configuration.targetKernel.counters() }

  /// How the counters' scope is named in the evidence.
  fileprivate var counterScope: String {
    if configuration.counterNamespaceFile != nil || configuration.counterNamespaceName != nil {
      return "namespace \(configuration.counterNamespace ?? configuration.counterNamespaceName ?? "of the target")"
    }
    return "this host, host-wide: other traffic moves them too"
  }

  private func freshPort() -> UInt16 {
    CasePlan.freshPort(&random, used: &usedPorts, avoiding: configuration.port, configuration.closedPort)
  }
}

extension ProbeReply {
  /// Parses a captured packet by its version nibble: IPv6 (TCP to our port, an ICMPv6 error
  /// quoting a packet of ours) or IPv4.
  static func parse(_ packet: CapturedPacket, local: Endpoint, remotePort: UInt16) -> ProbeReply? {
    if packet.bytes.first.map({ $0 >> 4 == 6 }) == true, local.address.ipv6 != nil {
      return ProbeReply(ipv6: packet, local: local, remotePort: remotePort, echoIdentifiers: [])
    }
    return ProbeReply(packet, local: local, remotePort: remotePort)
  }

  /// Parses a captured IPv6 packet from the target: TCP from `remotePort` to our port, an echo
  /// reply with `echoIdentifier`, or an ICMPv6 error quoting a packet we sent. `nil` otherwise.
  init?(ipv6 packet: CapturedPacket, local: Endpoint, remotePort: UInt16, echoIdentifiers: Set<UInt16>) {
    guard let ip = try? IPv6View(validating: packet.bytes[...]), IPAddress.v6(ip.destinationAddress) == local.address else {
      return nil
    }
    let summary = tcpdumpSummary(packet.bytes[...], linkType: .raw)
    if ip.nextHeader == .tcp {
      guard let tcp = try? TCPView(validating: ip.payload), tcp.destinationPort == local.port, tcp.sourcePort == remotePort
      else { return nil }
      self.init(
        flags: tcp.flags, seq: tcp.sequenceNumber, ack: tcp.acknowledgmentNumber, window: tcp.window,
        payloadLength: tcp.payload.count, summary: summary, bytes: packet.bytes)
    } else if ip.nextHeader == .icmpv6 {
      guard let icmp = try? ICMPv6View(validating: ip.payload) else { return nil }
      let type = icmp.type.rawValue
      if type == 129 {
        guard echoIdentifiers.contains(icmp.identifier) else { return nil }
      } else if (1...4).contains(type) {
        // An error about a packet of ours: its quoted IPv6 header has our source address.
        let quoted = icmp.body
        guard quoted.count >= 40 else { return nil }
        let source = quoted.dropFirst(8).prefix(16)
        guard let ours = local.address.ipv6, Array(source) == ours.octets else { return nil }
      } else {
        return nil
      }
      self.init(icmpType: type, code: icmp.code, summary: summary, bytes: packet.bytes)
      icmpPointer = icmp.restOfHeader
    } else {
      return nil
    }
    isIPv6 = true
    timestampSeconds = packet.timestampSeconds
    timestampNanoseconds = packet.timestampNanoseconds
  }
}

/// One IPv6 case: controls, crafted packets, replies, cleanup.
private struct IPv6CaseRun {
  let runner: IPv6ProbeRunner
  let edgeCase: EdgeCase
  let port: UInt16
  var random: SplitMix64
  var link: ProbeLink?
  var local: Endpoint
  var remote: Endpoint
  var crafted: [[UInt8]] = []
  var replies: [ProbeReply] = []
  var records: [ProbeRecord] = []
  var evidence: [String] = []
  var verdict: Verdict = .inconclusive
  var observed = "nothing"
  var control: ControlOutcome = .none
  var controlNotes: [String] = []
  var counterRises: [String: Int64] = [:]
  var counterScope: String?
  var dropWindow: DropWindow?
  var echoIdentifiers: Set<UInt16> = []

  init(runner: IPv6ProbeRunner, plan: CasePlan) {
    self.runner = runner
    edgeCase = plan.edgeCase
    port = plan.port
    random = SplitMix64(seed: plan.seed)
    let configuration = runner.configuration
    local = Endpoint(address: .v6(configuration.source), port: port)
    let targetPort = edgeCase.setup.kind == .closedPort ? configuration.closedPort : configuration.port
    remote = Endpoint(address: .v6(configuration.target), port: targetPort)
  }

  var timeout: Duration { runner.configuration.replyTimeout }

  mutating func inconclusive(_ reason: String) {
    verdict = .inconclusive
    observed = reason
    evidence.append(reason)
  }

  func result() -> ProbeResult {
    var transcript = Transcript()
    transcript.entries = records.enumerated().map { index, record in
      var entry = TranscriptEntry.probe6(record, local: local, remote: remote, index: index)
      if record.role == "crafted" {
        entry.explanation = "\(edgeCase.name): \(edgeCase.rfc) [\(edgeCase.requirement.rawValue)]: \(edgeCase.rule)"
      }
      return entry
    }
    return ProbeResult(
      edgeCase: edgeCase, verdict: verdict, observed: observed,
      evidence: evidence.isEmpty ? ["(no evidence recorded)"] : evidence, sourcePort: port, targetPort: remote.port,
      crafted: crafted, replies: replies, records: records, transcript: transcript, connection: nil, fate: .notChecked,
      control: control, counterRises: counterRises, counterScope: counterScope, dropWindow: dropWindow)
  }

  mutating func execute() throws(ScriptError) {
    let link = try runner.configuration.link(port: port)
    self.link = link
    evidence.append(runner.configuration.pathNote)
    let silent = !edgeCase.expected.expectsReply || edgeCase.allowedDrop != nil
    if silent {
      if let failure = try controlProbe(when: "before") {
        control = .failed("before the case: \(failure)")
        inconclusive("inconclusive: path broken (before the case, \(failure)); the crafted packet was not sent")
        return
      }
    }
    let identifier = UInt16(truncatingIfNeeded: random.next())
    echoIdentifiers.insert(identifier)
    let context = CraftContext(
      source: local, destination: remote, sequence: UInt32(truncatingIfNeeded: random.next()),
      acknowledgment: UInt32(truncatingIfNeeded: random.next()), identification: identifier)
    let packets = edgeCase.craft(context)
    let bytes: [[UInt8]]
    do {
      bytes = try packets.encoded()
    } catch {
      throw .packet(step: edgeCase.name, description: "\(error)")
    }
    let before = runner.counters()
    dropWindow = DropWindow(thread: DropTrace.currentThreadID(), start: DropTrace.now(), end: 0)
    for packet in bytes {
      try send(packet, role: "crafted")
      crafted.append(packet)
    }
    replies = try collect(for: timeout, stopAfterFirst: edgeCase.expected.expectsReply, role: "reply")
    dropWindow?.end = DropTrace.now()
    let after = runner.counters()
    let judged = Conformance.judge(expected: edgeCase.expected, segment: packets.reference, replies: replies)
    // What the crafted SYN opened goes first, so the control meets the same state.
    if let synAck = replies.first(where: { $0.isTCP && $0.flags.contains([.syn, .ack]) }) {
      try sendTCP(.rst, seq: synAck.acknowledgmentNumber, role: "cleanup")
    }
    if let failure = try controlProbe(when: "after") {
      control = .failed("after the case: \(failure)")
    } else {
      control = .passed(controlNotes)
    }
    var settled = Conformance.settle(judged, edgeCase: edgeCase, replies: replies, control: control)
    if edgeCase.expected == .handled, settled.verdict == .conforms {
      settled.observed = replies.isEmpty ? "nothing: the packet was dropped (the node's limit, as RFC 8504 §5.3 allows)"
        : settled.observed + " (processed)"
    }
    (verdict, observed) = settled
    for reply in replies { evidence.append("reply: \(reply.summary)") }
    if replies.isEmpty { evidence.append("no reply within \(ScriptError.format(timeout))") }
    if let before, let after {
      let rises = after.rises(since: before)
      for rise in rises { counterRises[rise.name] = rise.rise }
      let scope = runner.counterScope
      counterScope = scope
      evidence += KernelCounters.riseEvidence(rises, scope: scope, replied: !replies.isEmpty)
      if rises.isEmpty { evidence.append("no kernel counter rose (\(scope))") }
    }
    switch control {
    case .passed(let notes): evidence.append(contentsOf: notes.map { "positive control \($0)" })
    case .failed(let reason): evidence.append("positive control failed \(reason)")
    case .none: break
    }
  }

  /// An echo request (for `layer: .ipv6` cases) or a SYN (TCP cases) on the same path: `nil`
  /// when it drew its answer, else what happened.
  mutating func controlProbe(when: String) throws(ScriptError) -> String? {
    if edgeCase.layer == .ipv6 {
      let identifier = UInt16(truncatingIfNeeded: random.next())
      echoIdentifiers.insert(identifier)
      let configuration = runner.configuration
      let packet = Packet(layers: [.ipv6(IPv6Header(sourceAddress: configuration.source, destinationAddress: configuration.target))])
        / ICMPv6Header.echoRequest(identifier: identifier, sequenceNumber: 1) / "tcpcraft control"
      do {
        try send(try packet.encoded(), role: "control")
      } catch let error as ScriptError {
        throw error
      } catch {
        throw .packet(step: "\(edgeCase.name): control", description: "\(error)")
      }
      let answers = try collect(for: timeout, stopAfterFirst: true, role: "control", grace: .milliseconds(20))
      if let reply = answers.first(where: { $0.icmpType == 129 }) {
        controlNotes.append("\(when): an echo request drew \(reply.brief)")
        return nil
      }
      return "an echo request to \(configuration.target) drew " + describe(answers)
    }
    let iss = UInt32(truncatingIfNeeded: random.next())
    try sendTCP(.syn, seq: iss, role: "control")
    let answers = try collect(for: timeout, stopAfterFirst: true, role: "control", grace: .milliseconds(20))
    if edgeCase.setup.kind == .closedPort {
      if let reset = answers.first(where: { $0.isTCP && $0.flags.contains([.rst, .ack]) && $0.acknowledgmentNumber == iss &+ 1 }) {
        controlNotes.append("\(when): a SYN to the closed port drew \(reset.brief)")
        return nil
      }
      return "a SYN to the closed port \(remote.port) drew " + describe(answers)
    }
    if let synAck = answers.first(where: { $0.isTCP && $0.flags.contains([.syn, .ack]) && $0.acknowledgmentNumber == iss &+ 1 }) {
      controlNotes.append("\(when): a SYN to the listening port drew \(synAck.brief)")
      try sendTCP(.rst, seq: synAck.acknowledgmentNumber, role: "cleanup")
      return nil
    }
    return "a SYN to the listening port \(remote.port) drew " + describe(answers)
  }

  func describe(_ answers: [ProbeReply]) -> String {
    answers.isEmpty ? "nothing within \(ScriptError.format(timeout))" : answers.map(\.brief).joined(separator: "; ")
  }

  mutating func sendTCP(_ flags: TCPFlags, seq: UInt32, role: String) throws(ScriptError) {
    let configuration = runner.configuration
    let tcp = TCPHeader(
      sourcePort: port, destinationPort: remote.port, sequenceNumber: seq, acknowledgmentNumber: 0, flags: flags,
      window: flags.contains(.rst) ? 0 : 64800, options: flags.contains(.syn) ? [.maximumSegmentSize(1440)] : [])
    let packet = IPv6Header(sourceAddress: configuration.source, destinationAddress: configuration.target) / tcp
    let bytes: [UInt8]
    do {
      bytes = try packet.encoded()
    } catch {
      throw .packet(step: "\(edgeCase.name): \(role)", description: "\(error)")
    }
    try send(bytes, role: role)
  }

  mutating func send(_ bytes: [UInt8], role: String) throws(ScriptError) {
    guard let link else { return }
    let now = SystemClock.realTime()
    try link.send(bytes, to: remote.address)
    records.append(
      ProbeRecord(
        direction: .sent, role: role, bytes: bytes, summary: tcpdumpSummary(bytes[...], linkType: .raw),
        timestampSeconds: now.seconds, timestampNanoseconds: now.nanoseconds))
  }

  /// Replies until `duration` passes or, with `stopAfterFirst`, a grace after the first.
  mutating func collect(
    for duration: Duration, stopAfterFirst: Bool, role: String, grace: Duration? = nil
  ) throws(ScriptError) -> [ProbeReply] {
    guard let link else { return [] }
    let clock = ContinuousClock()
    var deadline = clock.now.advanced(by: duration)
    var answers: [ProbeReply] = []
    for _ in 0..<1000 {
      guard let packet = try link.receive(until: deadline) else { break }
      guard let reply = ProbeReply(ipv6: packet, local: local, remotePort: remote.port, echoIdentifiers: echoIdentifiers)
      else { continue }
      answers.append(reply)
      records.append(
        ProbeRecord(
          direction: .received, role: role, bytes: packet.bytes, summary: reply.summary,
          timestampSeconds: packet.timestampSeconds, timestampNanoseconds: packet.timestampNanoseconds))
      if stopAfterFirst && answers.count == 1 {
        let soon = clock.now.advanced(by: grace ?? runner.configuration.grace)
        if soon < deadline { deadline = soon }
      }
    }
    return answers
  }
}

extension TranscriptEntry {
  /// A transcript entry for a packet of an IPv6 case (no connection of ours: CLOSED throughout),
  /// its role as its note.
  static func probe6(_ record: ProbeRecord, local: Endpoint, remote: Endpoint, index: Int) -> TranscriptEntry {
    var sourcePort: UInt16 = 0
    var destinationPort: UInt16 = 0
    var flags: UInt16 = 0
    var seq: UInt32 = 0
    var ack: UInt32 = 0
    var window: UInt16 = 0
    var payload = 0
    if let ip = try? IPv6View(validating: record.bytes[...]), ip.nextHeader == .tcp, let tcp = try? TCPView(validating: ip.payload) {
      sourcePort = tcp.sourcePort
      destinationPort = tcp.destinationPort
      flags = tcp.flags.rawValue
      seq = tcp.sequenceNumber
      ack = tcp.acknowledgmentNumber
      window = tcp.window
      payload = tcp.payload.count
    }
    let sent = record.direction == .sent
    return TranscriptEntry(
      elapsed: .zero, timestampSeconds: record.timestampSeconds, timestampNanoseconds: record.timestampNanoseconds,
      direction: sent ? .sent : .received, summary: record.summary, sourceAddress: sent ? local.address : remote.address,
      sourcePort: sourcePort, destinationAddress: sent ? remote.address : local.address, destinationPort: destinationPort,
      flagBits: flags, sequenceNumber: seq, acknowledgmentNumber: ack, window: window, payloadLength: payload,
      stateBefore: .closed, stateAfter: .closed, note: record.role, packet: record.bytes)
  }
}

extension ProbeResult {
  /// A case whose runner could not start: inconclusive, saying why.
  static func notReached(_ edgeCase: EdgeCase, _ reason: String) -> ProbeResult {
    ProbeResult(
      edgeCase: edgeCase, verdict: .inconclusive, observed: reason, evidence: [reason], sourcePort: 0, targetPort: 0,
      crafted: [], replies: [], records: [], transcript: Transcript(), connection: nil, fate: .notChecked, control: .none,
      counterRises: [:], counterScope: nil, dropWindow: nil)
  }
}
