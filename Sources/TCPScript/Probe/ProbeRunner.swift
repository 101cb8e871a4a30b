import Dispatch
import PacketKit
import RawSocket
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where and how to probe.
public struct ProbeConfiguration: Sendable {
  /// The target's address and listening port.
  public var target: Endpoint
  /// A port nothing listens on at the target (closed-port cases); `nil`: chosen at random.
  public var closedPort: UInt16?
  /// Our source address; `nil`: the one the kernel would choose for the route.
  public var sourceAddress: IPv4Address?
  /// Our source address toward an IPv6 target: one no interface owns (with `interface`, both
  /// MACs and `guardResets` off: IPv6 targets are probed at layer 2 only).
  public var sourceAddress6: IPv6Address?
  /// Install the RST guard for each case's port (needed when the host owns the source address).
  public var guardResets: Bool
  /// Link overrides (default: from the route).
  public var interface: String?
  public var sourceMAC: MACAddress?
  public var destinationMAC: MACAddress?
  /// How long to wait for a reply (and, for a silent drop, how long silence must last).
  public var replyTimeout: Duration
  /// After the first reply, how long to keep collecting.
  public var grace: Duration
  /// The target's network namespace (`ip netns` name) for kernel counters; `nil`: ours, read
  /// only when `readsLocalCounters`.
  public var counterNamespace: String?
  /// The target's network namespace as a file (`/proc/self/fd/N` of a namespace we hold), for
  /// namespaces without a name; `counterNamespace` names it in the evidence.
  public var counterNamespaceFile: String?
  /// Read this namespace's counters (the target is on this host, e.g. on `lo`).
  public var readsLocalCounters: Bool
  /// Seed of the source ports, ISNs and IDs: the same seed gives the same segments.
  public var seed: UInt64
  /// Record the kernel's drop reasons (`skb:kfree_skb` in a tracefs instance of our own) when
  /// the target's kernel is this machine's; needs CAP_SYS_ADMIN.
  public var tracesDrops = true

  public init(
    target: Endpoint, closedPort: UInt16? = nil, sourceAddress: IPv4Address? = nil, guardResets: Bool = true,
    interface: String? = nil, sourceMAC: MACAddress? = nil, destinationMAC: MACAddress? = nil,
    replyTimeout: Duration = .seconds(1), grace: Duration = .milliseconds(150), counterNamespace: String? = nil,
    readsLocalCounters: Bool = false, seed: UInt64 = 0x7463_7063_7261_6674
  ) {
    self.target = target
    self.closedPort = closedPort
    self.sourceAddress = sourceAddress
    self.guardResets = guardResets
    self.interface = interface
    self.sourceMAC = sourceMAC
    self.destinationMAC = destinationMAC
    self.replyTimeout = replyTimeout
    self.grace = grace
    self.counterNamespace = counterNamespace
    self.readsLocalCounters = readsLocalCounters
    self.seed = seed
  }
}

/// One packet of a case, either way, for pcap files and `--bytes`.
public struct ProbeRecord: Sendable {
  public enum Direction: String, Sendable { case sent = "out", received = "in" }
  public var direction: Direction
  /// What the packet was for: `setup`, `crafted`, `reply`, `follow-up`, `cleanup`.
  public var role: String
  public var bytes: [UInt8]
  public var summary: String
  public var timestampSeconds: Int64
  public var timestampNanoseconds: Int32
}

/// One generated packet sent to the target and what came back.
public struct GeneratedExchange: Sendable {
  public var sourcePort: UInt16
  /// The IPv4 bytes sent (empty when it could not be built).
  public var sent: [UInt8]
  public var replies: [ProbeReply]
  /// Why nothing was sent, if so.
  public var problem: String?
}

/// The outcome of one case.
public struct ProbeResult: Sendable {
  public var edgeCase: EdgeCase
  public var verdict: Verdict
  /// What came back, briefly (`RST,ACK seq 0 ack 1235 win 0`, `nothing`).
  public var observed: String
  /// Why the verdict holds: the replies' tcpdump lines, the kernel counters that rose, "no reply
  /// within 1 s", what a later segment showed about the connection, the positive controls.
  /// Never empty.
  public var evidence: [String]
  /// Our source port in this case.
  public var sourcePort: UInt16
  /// The target's port this case went to (the listening or the closed port).
  public var targetPort: UInt16
  /// The crafted packets (IPv4 bytes) and the replies to them.
  public var crafted: [[UInt8]]
  public var replies: [ProbeReply]
  /// Every packet of the case, setup and cleanup included, in order.
  public var records: [ProbeRecord]
  /// The case's flow transcript: every packet with our side's RFC 9293 state before and after
  /// (crafted packets leave it as it was, except the SYNs of `listen-syn-data` and
  /// `tcp-window-scale-15`, which go on to complete the handshake they open) and its role as its note, so that the ladder,
  /// `--explain` and pcap files work for probe cases as for any flow.
  public var transcript: Transcript
  /// The connection's numbers the verdict was judged against (established cases).
  public var connection: ConnectionNumbers?
  /// What a later segment showed about the connection.
  public var fate: ConnectionFate
  /// What the positive controls showed.
  public var control: ControlOutcome
  /// The kernel counters that rose while the case ran (name → rise), when they could be read.
  public var counterRises: [String: Int64]
  /// Where those counters come from: `namespace NAME`, `this host (host-wide, noisy)`; with
  /// concurrent cases, that they were shared.
  public var counterScope: String?
  /// The packets the kernel dropped while the case's crafted packets were in flight, with their
  /// reasons (`TCP_CSUM`), or why they could not be recorded.
  public var drops: DropEvidence = .unavailable("not recorded")
  /// The case's thread and the time its crafted packets were in flight (for the drop trace).
  var dropWindow: DropWindow?
}

/// Runs edge cases against a real target, one fresh source port (and connection) per case.
///
/// Cases run concurrently (each on its own source port, its own capture socket and connection)
/// unless `sequential`: the kernel's per-connection limits (the challenge-ACK rate limit, kernel
/// fact 10) then never meet, and the listener's SYN backlog is far larger than the batch. Every
/// random number a case uses is drawn before any case starts, so a seed gives the same segments
/// in either mode.
public final class ProbeRunner: @unchecked Sendable {
  // Mutable state (`random`, `usedPorts`, `closedPort`) is touched only while planning, on the
  // calling thread, before any worker starts; workers read `configuration` and the route.
  public let configuration: ProbeConfiguration
  public let interfaceName: String
  public let sourceAddress: IPv4Address
  /// The target's IPv4 address (`.any` for an IPv6 target).
  public let targetAddress: IPv4Address
  /// Our address in this run's family (the IPv4 `sourceAddress`, or the IPv6 source).
  public let localAddress: IPAddress
  /// The IPv6 target, when the run is over IPv6.
  private let target6: IPv6Address?
  private let sourceMAC: MACAddress
  private let destinationMAC: MACAddress
  private var random: SplitMix64
  private let clock = ContinuousClock()
  private var usedPorts: Set<UInt16> = []
  /// At most this many cases at once.
  public var concurrency = 64
  /// At most this many cases hold a connection or half-open connection at the listening port at
  /// once: a listener's SYN queue holds its backlog's worth of requests before SYN cookies take
  /// over (and cookies change the answers: a RST then meets no state), and a listener that does
  /// not accept holds as many established connections. 12 stays under a backlog of 16 (what
  /// `tcpcraft demo --serve` uses); raise it for a listener with a larger backlog.
  public var listenerSlots = 12

  /// Resolves the route once (interface, source address, MACs).
  public init(_ configuration: ProbeConfiguration) throws(ScriptError) {
    self.configuration = configuration
    random = SplitMix64(seed: configuration.seed)
    if let target6 = configuration.target.address.ipv6 {
      guard let interface = configuration.interface, let source = configuration.sourceAddress6,
        let sourceMAC = configuration.sourceMAC, let destinationMAC = configuration.destinationMAC
      else {
        throw .system(
          step: "probing \(configuration.target)",
          description: "an IPv6 target needs an interface, a source address no interface owns and both MACs (--target self --ipv6)")
      }
      targetAddress = .any
      self.target6 = target6
      interfaceName = interface
      sourceAddress = .any
      localAddress = .v6(source)
      self.sourceMAC = sourceMAC
      self.destinationMAC = destinationMAC
      closedPort = configuration.closedPort ?? Self.pickClosedPort(configuration.target.port)
      return
    }
    guard let targetAddress = configuration.target.ipv4 else {
      throw .system(step: "probing \(configuration.target)", description: "not an address the probe can reach")
    }
    self.targetAddress = targetAddress
    target6 = nil
    if let interface = configuration.interface, let source = configuration.sourceAddress,
      let sourceMAC = configuration.sourceMAC, let destinationMAC = configuration.destinationMAC
    {
      interfaceName = interface
      sourceAddress = source
      self.sourceMAC = sourceMAC
      self.destinationMAC = destinationMAC
    } else {
      let route = try ProbeLink.route(to: targetAddress)
      interfaceName = configuration.interface ?? route.interface
      sourceAddress = configuration.sourceAddress ?? route.source
      sourceMAC = configuration.sourceMAC ?? route.sourceMAC
      destinationMAC = configuration.destinationMAC ?? route.destinationMAC
    }
    localAddress = .v4(sourceAddress)
    closedPort = configuration.closedPort ?? Self.pickClosedPort(configuration.target.port)
  }

  /// The closed port the closed-port cases use.
  public let closedPort: UInt16
  /// The tracefs instance the last run's drop tracer used (removed when the run ended).
  public private(set) var dropTraceInstance: String?

  /// Runs `cases`, concurrently unless `sequential`; results come back in the order of `cases`.
  /// `progress` is called as each case starts (sequential) or ends (concurrent), with a running
  /// count, the total and the case, from one thread at a time.
  public func run(
    _ cases: [EdgeCase], sequential: Bool = false, progress: @escaping @Sendable (Int, Int, EdgeCase) -> Void = { _, _, _ in }
  ) -> [ProbeResult] {
    let plans = cases.map { plan($0) }
    let trace = startDropTrace()
    if case .success(let tracer) = trace { dropTraceInstance = tracer.instanceName }
    defer { if case .success(let tracer) = trace { tracer.close() } }
    if sequential || cases.count < 2 {
      var results: [ProbeResult] = []
      for (index, plan) in plans.enumerated() {
        progress(index + 1, cases.count, plan.edgeCase)
        results.append(execute(plan, concurrent: false))
      }
      attributeDrops(&results, trace: trace)
      return results
    }
    let done = ProgressCounter()
    let slots = DispatchSemaphore(value: max(1, listenerSlots))
    // The longest cases (a connection to open, silences to wait out) start first; results come
    // back in the order of `cases`.
    let order = plans.indices.sorted { Self.weight(plans[$0].edgeCase) > Self.weight(plans[$1].edgeCase) }
    let results = ParallelWork.map(order.map { plans[$0] }, width: max(1, concurrency)) { plan in
      let usesListener = plan.edgeCase.setup.kind != .closedPort
      if usesListener { slots.wait() }
      let result = self.execute(plan, concurrent: true)
      if usesListener { slots.signal() }
      done.step { progress($0, cases.count, plan.edgeCase) }
      return result
    }
    var ordered = results
    for (position, index) in order.enumerated() { ordered[index] = results[position] }
    attributeDrops(&ordered, trace: trace)
    return ordered
  }

  /// A rough cost: waits for silence and setup round trips.
  private static func weight(_ edgeCase: EdgeCase) -> Int {
    var weight = edgeCase.setup.kind == .established ? 2 : 0
    if edgeCase.setup.closeWindow || edgeCase.expected == .synDataQueued { weight += 3 }
    if !edgeCase.expected.expectsReply { weight += 2 }
    return weight
  }

  /// Runs one case. Never throws: a failure to reach the case's state is an `inconclusive`
  /// result that says why.
  public func run(_ edgeCase: EdgeCase) -> ProbeResult {
    run([edgeCase], sequential: true).first ?? execute(plan(edgeCase), concurrent: false)
  }

  private func plan(_ edgeCase: EdgeCase) -> CasePlan {
    CasePlan(edgeCase: edgeCase, port: freshPort(), seed: random.next())
  }

  private func execute(_ plan: CasePlan, concurrent: Bool) -> ProbeResult {
    var run = CaseRun(runner: self, plan: plan, concurrent: concurrent)
    do throws(ScriptError) {
      try run.execute()
    } catch {
      run.inconclusive(error.description)
    }
    run.link?.close()
    return run.result()
  }

  /// Sends one packet (a generated segment, say) from a fresh source port: its IPv4 addresses
  /// and TCP ports are set to ours and the target's, the rest is sent as built. Replies are
  /// collected like a case's (until a short grace after the first, at most `replyTimeout`); a
  /// SYN,ACK is answered with a RST so nothing stays half-open at the target.
  public func exchange(_ packet: Packet) -> GeneratedExchange {
    let port = freshPort()
    let local = Endpoint(address: sourceAddress, port: port)
    var packet = packet
    for index in packet.layers.indices {
      switch packet.layers[index] {
      case .ipv4(var ip):
        ip.sourceAddress = sourceAddress
        ip.destinationAddress = targetAddress
        packet.layers[index] = .ipv4(ip)
      case .tcp(var tcp):
        tcp.sourcePort = port
        tcp.destinationPort = configuration.target.port
        packet.layers[index] = .tcp(tcp)
      default:
        break
      }
    }
    var result = GeneratedExchange(sourcePort: port, sent: [], replies: [], problem: nil)
    do throws(ScriptError) {
      let link = try makeLink(local: local)
      defer { link.close() }
      let flow = Flow(local: local, remote: configuration.target, transport: link)
      flow.readsPeerState = false
      result.sent = try flow.send(packet: packet, effect: .untracked, step: "generated segment").packet
      let packets = try flow.collect(for: configuration.replyTimeout, graceAfterFirst: configuration.grace)
      result.replies = packets.compactMap { ProbeReply($0, local: local, remotePort: configuration.target.port) }
      if let synAck = result.replies.first(where: { $0.flags.contains([.syn, .ack]) }) {
        flow.identification = UInt16(truncatingIfNeeded: random.next())
        _ = try? flow.send(.rst, seq: synAck.acknowledgmentNumber, ack: 0, window: 0, step: "generated segment: cleanup")
      }
    } catch {
      result.problem = error.description
    }
    return result
  }

  // MARK: - Internals

  fileprivate func makeLink(local: Endpoint) throws(ScriptError) -> ProbeLink {
    if let target6 {
      return try ProbeLink(
        interface: interfaceName, sourceMAC: sourceMAC, destinationMAC: destinationMAC, local: local, remoteAddress6: target6,
        guardResets: configuration.guardResets)
    }
    return try ProbeLink(
      interface: interfaceName, sourceMAC: sourceMAC, destinationMAC: destinationMAC, local: local,
      remoteAddress: targetAddress, guardResets: configuration.guardResets)
  }

  fileprivate func counters() -> KernelCounters? { configuration.targetKernel.counters() }

  private func freshPort() -> UInt16 {
    CasePlan.freshPort(&random, used: &usedPorts, avoiding: configuration.target.port, closedPort)
  }

  private static func pickClosedPort(_ port: UInt16) -> UInt16 {
    port < 65535 ? port + 1 : port - 1
  }

  fileprivate var now: ContinuousClock.Instant { clock.now }
}

/// What is fixed about a case before any case runs: its source port and the seed of every
/// number it draws.
struct CasePlan: Sendable {
  let edgeCase: EdgeCase
  let port: UInt16
  let seed: UInt64

  /// A source port for a case drawn from `random` (20000-59999), not in `used` nor one of the
  /// target's two ports, and added to `used`; after 1000 draws, any. Shared by both runners.
  static func freshPort(_ random: inout SplitMix64, used: inout Set<UInt16>, avoiding port: UInt16, _ closedPort: UInt16) -> UInt16 {
    for _ in 0..<1000 {
      let candidate = UInt16(truncatingIfNeeded: 20000 &+ random.next() % 40000)
      if !used.contains(candidate) && candidate != port && candidate != closedPort {
        used.insert(candidate)
        return candidate
      }
    }
    return UInt16(truncatingIfNeeded: 20000 &+ random.next() % 40000)
  }
}

/// The work of one case: setup, positive controls, crafted packets, replies, follow-up, cleanup.
///
/// Every packet goes out and comes back through one `Flow` (the project's one RFC 9293 model):
/// the handshake is `activeOpen`'s three steps, preloaded data `sendData`, window filling, controls,
/// follow-ups and cleanup RSTs are `Flow.send`, replies `Flow.collect`. The crafted packets go
/// out whole with `Flow.send(packet:effect: .untracked)`: they are what is measured, so they
/// move neither SND.NXT nor the state; the case then judges from what the target answered.
private struct CaseRun {
  let runner: ProbeRunner
  let edgeCase: EdgeCase
  let port: UInt16
  let concurrent: Bool
  var random: SplitMix64
  var link: ProbeLink?
  var flow: Flow?
  /// The role of each of the flow's transcript entries (`setup`, `crafted`, `reply`...), by index.
  var roles: [String] = []
  var crafted: [[UInt8]] = []
  var replies: [ProbeReply] = []
  var evidence: [String] = []
  var verdict: Verdict = .inconclusive
  var observed = "nothing"
  var local: Endpoint
  var remote: Endpoint
  /// Set once the target has a connection or half-connection from our port (for the cleanup
  /// RST): the case decides it from what the target acknowledged, which the crafted segments
  /// (untracked) may have moved away from the flow's SND.NXT.
  var cleanupSequence: UInt32?
  let firstIdentification: UInt16
  var connection: ConnectionNumbers?
  var fate: ConnectionFate = .notChecked
  var control: ControlOutcome = .none
  var controlNotes: [String] = []
  var counterRises: [String: Int64] = [:]
  var counterScope: String?
  var dropWindow: DropWindow?
  /// The seeded base of our TSvals and how many ticks of the case's timestamp clock have passed.
  var timestampBase: UInt32 = 0
  var timestampTicks: UInt32 = 0

  init(runner: ProbeRunner, plan: CasePlan, concurrent: Bool) {
    self.runner = runner
    edgeCase = plan.edgeCase
    port = plan.port
    self.concurrent = concurrent
    random = SplitMix64(seed: plan.seed)
    local = Endpoint(address: runner.localAddress, port: port)
    let targetPort = edgeCase.setup.kind == .closedPort ? runner.closedPort : runner.configuration.target.port
    remote = Endpoint(address: runner.configuration.target.address, port: targetPort)
    firstIdentification = UInt16(truncatingIfNeeded: random.next())
  }

  mutating func inconclusive(_ reason: String) {
    verdict = .inconclusive
    observed = reason
    evidence.append(reason)
  }

  func result() -> ProbeResult {
    let transcript = ProbeResult.transcript(flow?.transcript ?? Transcript(), roles: roles, edgeCase: edgeCase)
    let records = transcript.entries.map { entry in
      ProbeRecord(
        direction: entry.direction == .sent ? .sent : .received, role: entry.note ?? "", bytes: entry.packet,
        summary: entry.summary, timestampSeconds: entry.timestampSeconds, timestampNanoseconds: entry.timestampNanoseconds)
    }
    return ProbeResult(
      edgeCase: edgeCase, verdict: verdict, observed: observed,
      evidence: evidence.isEmpty ? ["(no evidence recorded)"] : evidence, sourcePort: port, targetPort: remote.port,
      crafted: crafted, replies: replies, records: records, transcript: transcript, connection: connection, fate: fate,
      control: control, counterRises: counterRises, counterScope: counterScope, dropWindow: dropWindow)
  }

  var timeout: Duration { runner.configuration.replyTimeout }
  /// After the one reply a setup step, a control or a follow-up waits for, how long to keep
  /// listening (the crafted segment's replies get the configured grace).
  static let stepGrace = Duration.milliseconds(20)

  mutating func execute() throws(ScriptError) {
    let link = try runner.makeLink(local: local)
    self.link = link
    if edgeCase.needsExactIPv4Header && !link.keepsIPv4HeaderExact {
      verdict = .notRun
      observed = "not run: the IPv4 header would not stay as built on \(link.interfaceName)"
      evidence.append(
        "not run: on \(link.interfaceName) the packet goes through a raw IPv4 socket, whose kernel rewrites the IPv4 "
          + "checksum and total length; probe a target behind a veth or Ethernet interface (layer 2) for this case")
      return
    }
    var context = CraftContext(
      source: local, destination: remote, sequence: UInt32(truncatingIfNeeded: random.next()),
      acknowledgment: UInt32(truncatingIfNeeded: random.next()), identification: firstIdentification)
    let flow = Flow(local: local, remote: remote, transport: link, initialSendSequence: context.sequence)
    flow.readsPeerState = false
    flow.defaultTimeout = timeout
    flow.identification = firstIdentification &+ 1
    self.flow = flow
    let silent = !edgeCase.expected.expectsReply || edgeCase.allowedDrop != nil
    if edgeCase.setup.kind == .established {
      // The handshake is the control before the case: a valid SYN drew its SYN,ACK.
      guard try handshake(flow) else {
        control = .failed("before the case: the handshake failed")
        return
      }
      if edgeCase.setup.closeWindow {
        guard try closeWindow(flow) else { return }
      }
      if edgeCase.setup.preload > 0 {
        guard try preload(flow) else { return }
      }
      // The case crafts from the flow's TCB.
      context.sequence = flow.sendNext
      context.acknowledgment = flow.receiveNext
      context.peerWindow = flow.peerWindow
      if flow.timestampsEnabled {
        context.timestampValue = nextTimestamp()
        context.timestampEcho = flow.peerTimestamp
      }
      connection = ConnectionNumbers(ourNext: context.sequence, peerNext: context.acknowledgment)
    } else if silent {
      if let failure = try controlProbe(role: "control", when: "before") {
        control = .failed("before the case: \(failure)")
        inconclusive("inconclusive: path broken (before the case, \(failure)); the crafted segment was not sent")
        return
      }
    }
    context.identification = nextID()

    let before = runner.counters()
    let packets = edgeCase.craft(context)
    do {
      _ = try packets.encoded()
    } catch {
      throw .packet(step: edgeCase.name, description: "\(error)")
    }
    dropWindow = DropWindow(thread: DropTrace.currentThreadID(), start: DropTrace.now(), end: 0)
    // The two SYN cases that go on to complete the handshake their SYN opens are tracked, so the
    // transcript shows CLOSED → SYN-SENT → ESTABLISHED as it happened; every other crafted packet
    // is measured, not ours to follow, and leaves our state as it was.
    let opensConnection = edgeCase.expected == .synDataQueued || edgeCase.expected == .windowScaleClamped
    for (index, packet) in packets.packets.enumerated() {
      let trailer = index == packets.packets.count - 1 ? packets.trailer : []
      let effect: Flow.PacketEffect = opensConnection && packets.packets.count == 1 ? .tracked : .untracked
      let entry = try flow.send(packet: packet, effect: effect, trailer: trailer, step: edgeCase.name)
      crafted.append(entry.packet)
      if effect == .tracked && edgeCase.expected == .synDataQueued {
        // The data counts as not yet sent: whether the target queued it is what is measured, and
        // it goes again from ISS+1 unless it was. The SYN,ACK of the SYN alone then moves the flow
        // to ESTABLISHED.
        flow.sendNext = packets.reference.sequence &+ 1
      }
    }
    mark("crafted")
    replies = try collect(for: timeout, stopAfterFirst: edgeCase.expected.expectsReply, role: "reply")
    dropWindow?.end = DropTrace.now()
    let after = runner.counters()

    var judged: (verdict: Verdict, observed: String)
    if edgeCase.expected == .synDataQueued {
      judged = try synData(segment: packets.reference, payload: packets.payload)
    } else if edgeCase.expected == .windowScaleClamped {
      judged = try windowScale(segment: packets.reference)
    } else {
      if let connection {
        fate = try followUp(context, connection: connection, segment: packets.reference)
      }
      judged = Conformance.judge(
        expected: edgeCase.expected, segment: packets.reference, replies: replies, connection: connection, fate: fate)
    }
    if connection != nil || edgeCase.expected == .synDataQueued {
      switch fate {
      case .unknown(let text): control = .failed("after the case: \(text)")
      case .alive(let text): control = .passed(controlNotes + ["after: a data byte drew \(text)"])
      case .gone(let text):
        // The connection is gone; the target itself must still answer a new SYN.
        controlNotes.append("after: a data byte drew \(text)")
        if let failure = try controlProbe(role: "control", when: "after") {
          control = .failed("after the case: \(failure)")
        } else {
          control = .passed(controlNotes)
        }
      case .notChecked: control = .passed(controlNotes)
      }
    } else {
      // What the crafted segment opened goes first, so the control meets the same state.
      if let synAck = replies.first(where: { $0.flags.contains([.syn, .ack]) }) {
        cleanupSequence = synAck.acknowledgmentNumber
        try cleanup()
      }
      if let failure = try controlProbe(role: "control", when: "after") {
        control = .failed("after the case: \(failure)")
      } else {
        control = .passed(controlNotes)
      }
    }
    (verdict, observed) = Conformance.settle(judged, edgeCase: edgeCase, replies: replies, control: control)

    for reply in replies { evidence.append("reply: \(reply.summary)") }
    if replies.isEmpty { evidence.append("no reply within \(ScriptError.format(timeout))") }
    if let before, let after { recordCounters(before: before, after: after) }
    if let text = fate.text { evidence.append(text) }
    switch control {
    case .passed(let notes): evidence.append(contentsOf: notes.map { "positive control \($0)" })
    case .failed(let reason): evidence.append("positive control failed \(reason)")
    case .none: break
    }
    try cleanup()
  }

  mutating func recordCounters(before: KernelCounters, after: KernelCounters) {
    let rises = after.rises(since: before)
    for rise in rises { counterRises[rise.name] = rise.rise }
    var scope: String
    var clean = false
    if let namespace = runner.configuration.counterNamespace {
      scope = "namespace \(namespace)"
      clean = !concurrent
      if concurrent { scope += ", shared by the cases running at once" }
    } else {
      scope = "this host: host-wide and noisy, other traffic moves them too"
    }
    counterScope = scope
    evidence += KernelCounters.riseEvidence(rises, scope: scope, replied: !replies.isEmpty)
    if rises.isEmpty {
      evidence.append(
        clean ? "no kernel counter rose (\(scope)): the packet never reached IP" : "no kernel counter rose (\(scope))")
    }
  }

  // MARK: Positive controls

  /// A plain SYN from our port to the case's port (a new connection attempt on the flow): a
  /// closed port must answer RST,ACK, the listening port SYN,ACK (which is reset at once).
  /// `nil` when it did; else what happened.
  mutating func controlProbe(role: String, when: String) throws(ScriptError) -> String? {
    let iss = UInt32(truncatingIfNeeded: random.next())
    // A new connection: nothing is negotiated yet, so the SYN carries no timestamp.
    flow?.timestampsEnabled = false
    try send(.syn, seq: iss, options: [.maximumSegmentSize(1460)], role: role)
    let answers = try collect(for: timeout, stopAfterFirst: true, role: role, grace: Self.stepGrace)
    let what = edgeCase.setup.kind == .closedPort ? "closed" : "listening"
    if what == "closed" {
      if let reset = answers.first(where: { $0.flags.contains([.rst, .ack]) && $0.acknowledgmentNumber == iss &+ 1 }) {
        controlNotes.append("\(when): a SYN to the closed port drew \(reset.brief)")
        return nil
      }
    } else if let synAck = answers.first(where: { $0.flags.contains([.syn, .ack]) && $0.acknowledgmentNumber == iss &+ 1 }) {
      controlNotes.append("\(when): a SYN to the listening port drew \(synAck.brief)")
      try send(.rst, seq: synAck.acknowledgmentNumber, ack: 0, window: 0, role: "cleanup")
      return nil
    }
    let got = answers.isEmpty ? "nothing within \(ScriptError.format(timeout))" : answers.map(\.brief).joined(separator: "; ")
    return "a SYN to the \(what) port \(remote.port) drew \(got)"
  }

  // MARK: Setup

  /// The flow's active open (SYN → SYN+ACK → ACK). `true` when established; `false` (after
  /// recording an inconclusive result) when the target did not accept.
  mutating func handshake(_ flow: Flow) throws(ScriptError) -> Bool {
    let iss = edgeCase.setup.initialSequence ?? UInt32(truncatingIfNeeded: random.next())
    let timestampBase = UInt32(truncatingIfNeeded: random.next() >> 40) &+ 1_000_000
    var options: [TCPOption] = [.maximumSegmentSize(1460)]
    if edgeCase.setup.timestamps {
      options += [.noOperation, .noOperation, .timestamps(value: timestampBase, echoReply: 0)]
    }
    flow.initialSendSequence = iss
    flow.sendNext = iss
    flow.sendUnacknowledged = iss
    self.timestampBase = timestampBase
    do {
      // activeOpen's three steps, with the final ACK's TSval from the case's seeded clock (the
      // flow's own would be the boot clock's milliseconds, different on every run).
      try flow.send(.syn, options: options, step: "\(edgeCase.name): handshake: sending SYN")
      try flow.expect(.synAcknowledging(flow.sendNext), within: timeout, step: "\(edgeCase.name): handshake: waiting for SYN+ACK")
      try send(.ack, role: "setup")
    } catch {
      mark("setup")
      let answers = receivedReplies(since: 0)
      let got = answers.isEmpty ? "nothing within \(ScriptError.format(timeout))" : answers.map(\.brief).joined(separator: "; ")
      inconclusive("inconclusive: path broken (the handshake's SYN to \(remote) drew \(got))")
      return false
    }
    mark("setup")
    cleanupSequence = flow.sendNext
    if let synAck = receivedReplies(since: 0).first(where: { $0.flags.contains([.syn, .ack]) }) {
      controlNotes.append("before: the handshake's SYN drew \(synAck.brief)")
    }
    if edgeCase.setup.timestamps && !flow.timestampsEnabled {
      inconclusive("handshake: the target did not agree to timestamps (no TSopt in its SYN,ACK)")
      return false
    }
    return true
  }

  /// Sends `setup.preload` bytes of data (the flow's `sendData`) and waits for their ACK.
  mutating func preload(_ flow: Flow) throws(ScriptError) -> Bool {
    let count = edgeCase.setup.preload
    let data = (0..<count).map { EdgeCaseCatalog.data[$0 % EdgeCaseCatalog.data.count] }
    do {
      try flow.sendData(data, timeout: timeout)
    } catch {
      mark("setup")
      inconclusive("the \(count) bytes sent after the handshake were not acknowledged")
      return false
    }
    mark("setup")
    cleanupSequence = flow.sendNext
    return true
  }

  /// A SYN that carried data drew a SYN,ACK: completes the handshake and looks whether the
  /// data was queued (acknowledged then), else sends it again and looks whether it is
  /// acknowledged that time. The second answer is also the control after the case.
  mutating func synData(segment: CraftedSegment, payload: [UInt8]) throws(ScriptError) -> (
    verdict: Verdict, observed: String
  ) {
    guard let synAck = replies.first(where: { $0.flags.contains([.syn, .ack]) && !$0.flags.contains(.rst) }) else {
      return Conformance.judgeSYNData(
        segment: segment, synAck: nil, replies: replies, ackedAfterHandshake: nil, ackedWhenResent: nil)
    }
    let afterData = segment.sequence &+ segment.length
    let afterSYN = segment.sequence &+ 1
    let peerNext = synAck.sequenceNumber &+ 1
    cleanupSequence = synAck.acknowledgmentNumber
    try send(.ack, seq: synAck.acknowledgmentNumber, ack: peerNext, role: "follow-up")
    guard synAck.acknowledgmentNumber == afterSYN else {
      fate = .notChecked
      return Conformance.judgeSYNData(
        segment: segment, synAck: synAck, replies: replies, ackedAfterHandshake: nil, ackedWhenResent: nil)
    }
    func covers(_ reply: ProbeReply) -> Bool {
      reply.flags.contains(.ack) && !reply.flags.contains(.rst) && SequenceSpace.lessOrEqual(afterData, reply.acknowledgmentNumber)
    }
    let afterHandshake = try collect(for: timeout, stopAfterFirst: true, role: "follow-up", grace: Self.stepGrace)
    if afterHandshake.contains(where: covers) {
      cleanupSequence = afterData
      fate = .alive(afterHandshake.first(where: covers)?.summary ?? "")
      return Conformance.judgeSYNData(
        segment: segment, synAck: synAck, replies: replies, ackedAfterHandshake: true, ackedWhenResent: nil)
    }
    try send([.psh, .ack], seq: afterSYN, ack: peerNext, payload: payload, role: "follow-up")
    let resent = try collect(for: timeout, stopAfterFirst: true, role: "follow-up", grace: Self.stepGrace)
    if let ack = resent.first(where: covers) {
      cleanupSequence = afterData
      fate = .alive(ack.summary)
    } else if let reset = resent.first(where: { $0.flags.contains(.rst) }) {
      cleanupSequence = nil
      fate = .gone(reset.summary)
    } else {
      fate = .unknown(resent.isEmpty ? "the data sent again drew no reply within \(ScriptError.format(timeout))"
        : "the data sent again drew " + resent.map(\.summary).joined(separator: "; "))
    }
    return Conformance.judgeSYNData(
      segment: segment, synAck: synAck, replies: replies, ackedAfterHandshake: false,
      ackedWhenResent: resent.contains(where: covers))
  }

  /// A SYN with an out-of-range window-scale shift drew a SYN,ACK: completes the handshake and,
  /// when the target's kernel can be asked (its namespace is ours to enter, or it is on this
  /// host), reads the shift its socket applies to our windows.
  mutating func windowScale(segment: CraftedSegment) throws(ScriptError) -> (verdict: Verdict, observed: String) {
    let judged = Conformance.judge(expected: .windowScaleClamped, segment: segment, replies: replies)
    guard judged.verdict == .partly,
      let synAck = replies.first(where: { $0.flags.contains([.syn, .ack]) && !$0.flags.contains(.rst) })
    else { return judged }
    cleanupSequence = synAck.acknowledgmentNumber
    try send(.ack, seq: synAck.acknowledgmentNumber, ack: synAck.sequenceNumber &+ 1, role: "follow-up")
    let configuration = runner.configuration
    guard configuration.targetKernel.isLocal else {
      return (.partly, judged.observed.replacingFirst("not measured", with: "not measured (the target is not on this host)"))
    }
    var shift: UInt8?
    for _ in 0..<5 where shift == nil {
      shift = ProbeKernelView.sendShift(
        namespaceFile: configuration.counterNamespaceFile, namespaceName: configuration.counterNamespace,
        target: remote, peer: self.local)
      if shift == nil { _ = try collect(for: .milliseconds(20), stopAfterFirst: false, role: "follow-up") }
    }
    let base = judged.observed.replacingFirst("; the shift in use was not measured", with: "")
    guard let shift else { return (.partly, judged.observed + " (the target's socket could not be read)") }
    evidence.append("the target's socket (inet_diag, tcp_info): snd_wscale \(shift)")
    if shift == 14 { return (.conforms, base + "; the target's socket applies shift 14 to our windows") }
    return (.deviates, base + "; the target's socket applies shift \(shift) to our windows (wanted 14)")
  }

  /// Sends data until the target advertises a zero window (bounded: 256 segments, 64 KiB of
  /// window at a time, 3 s), each segment from SND.UNA (what the target refused is sent again).
  /// `false` (inconclusive) when it never closes.
  mutating func closeWindow(_ flow: Flow) throws(ScriptError) -> Bool {
    let deadline = runner.now.advanced(by: .seconds(3))
    var window = flow.peerWindow
    for _ in 0..<256 {
      if window == 0 { break }
      if runner.now >= deadline { break }
      // On lo (MTU 65536) segments of 1 KiB cost the target more memory than window: Linux stops
      // taking data while its window is still open (it never shrinks an offered window); larger
      // segments close the window first, as 1 KiB ones do over a veth.
      let size = min(Int(window), runner.interfaceName == "lo" ? 16384 : 1024)
      try send(.ack, seq: flow.sendUnacknowledged, payload: [UInt8](repeating: 0x46, count: size), role: "setup")
      let answers = try collect(for: .milliseconds(300), stopAfterFirst: true, role: "setup")
      guard let ack = answers.last(where: { $0.flags.contains(.ack) && !$0.flags.contains(.rst) }) else {
        if answers.contains(where: { $0.flags.contains(.rst) }) {
          inconclusive("the target reset the connection while we filled its window")
          return false
        }
        continue
      }
      cleanupSequence = flow.sendUnacknowledged
      window = ack.window
    }
    if window == 0 {
      // What the closed window refused is given up: the case goes on from what was acknowledged.
      flow.sendNext = flow.sendUnacknowledged
      return true
    }
    inconclusive(
      "the target's window never closed (last advertised \(window)): its application reads what arrives, or its receive "
        + "buffer ran out before its window did (Linux never shrinks a window it offered; a listener with a small "
        + "SO_RCVBUF, as --target self makes, closes it)")
    return false
  }

  // MARK: Follow-up and cleanup

  /// One data byte at the connection's next seq: an ACK shows the connection alive, a RST gone.
  mutating func followUp(_ context: CraftContext, connection: ConnectionNumbers, segment: CraftedSegment) throws(ScriptError) -> ConnectionFate {
    var next = connection.ourNext
    for reply in replies where reply.isTCP && reply.flags.contains(.ack) && !reply.flags.contains(.rst) {
      let ack = reply.acknowledgmentNumber
      if SequenceSpace.less(next, ack) && SequenceSpace.lessOrEqual(ack, connection.ourNext &+ segment.length) { next = ack }
    }
    var peerNext = context.acknowledgment
    for reply in replies where reply.isTCP && reply.payloadLength > 0 {
      let end = reply.sequenceNumber &+ UInt32(reply.payloadLength)
      if SequenceSpace.less(peerNext, end) { peerNext = end }
    }
    // What the target acknowledged of the crafted (untracked) segment is sent: SND.NXT follows.
    flow?.sendNext = next
    try send([.psh, .ack], seq: next, ack: peerNext, payload: [0x3F], role: "follow-up")
    let answers = try collect(for: timeout, stopAfterFirst: true, role: "follow-up", grace: Self.stepGrace)
    cleanupSequence = next &+ 1
    if let reset = answers.first(where: { $0.flags.contains(.rst) }) {
      cleanupSequence = nil
      return .gone(reset.summary)
    }
    if let ack = answers.first(where: { $0.flags.contains(.ack) && SequenceSpace.lessOrEqual(next &+ 1, $0.acknowledgmentNumber) }) {
      return .alive(ack.summary)
    }
    // A closed window refuses the byte but still answers for the connection with RCV.NXT.
    if let ack = answers.first(where: { $0.flags.contains(.ack) && !$0.flags.contains(.syn) && $0.acknowledgmentNumber == next }),
      ack.window == 0
    {
      cleanupSequence = next
      return .alive(ack.summary + " (window closed: the byte was refused, the connection answered)")
    }
    if answers.isEmpty { return .unknown("a data byte drew no reply within \(ScriptError.format(runner.configuration.replyTimeout))") }
    return .unknown("a data byte drew " + answers.map(\.summary).joined(separator: "; "))
  }

  /// A RST (the flow's abort, at the sequence the case worked out) for whatever our port left
  /// at the target (a connection, a half-open one).
  mutating func cleanup() throws(ScriptError) {
    guard let sequence = cleanupSequence else { return }
    cleanupSequence = nil
    try send(.rst, seq: sequence, ack: 0, window: 0, role: "cleanup")
  }

  // MARK: Sending and collecting

  /// The IPv4 identification for the next crafted packet (the flow's counter: one sequence).
  mutating func nextID() -> UInt16 {
    guard let flow else { return firstIdentification }
    defer { flow.identification &+= 1 }
    return flow.identification
  }

  /// Our next TSval: the case's seeded base plus one tick a segment, so that `--seed` replays
  /// timestamps too. Monotonic, as RFC 7323 §5.4 asks of a timestamp clock; the flow's own clock
  /// is moved along with it, so that anything the flow sends itself carries no older value.
  mutating func nextTimestamp() -> UInt32 {
    timestampTicks &+= 1
    let value = timestampBase &+ timestampTicks
    flow?.timestampOffset = value &- Flow.millisecondClock()
    return value
  }

  /// Gives every transcript entry not yet given one this role.
  mutating func mark(_ role: String) {
    guard let flow else { return }
    while roles.count < flow.transcript.entries.count { roles.append(role) }
  }

  mutating func send(
    _ flags: TCPFlags, seq: UInt32? = nil, ack: UInt32? = nil, window: UInt16? = nil, options: [TCPOption] = [],
    payload: [UInt8] = [], role: String
  ) throws(ScriptError) {
    guard let flow else { return }
    var options = options
    if flow.timestampsEnabled && !flags.contains(.rst) && !options.contains(where: { $0.kind == 8 }) {
      options += [.noOperation, .noOperation, .timestamps(value: nextTimestamp(), echoReply: flow.peerTimestamp)]
    }
    try flow.send(flags, seq: seq, ack: ack, window: window, options: options, payload: payload, step: "\(edgeCase.name): \(role)")
    mark(role)
  }

  /// Replies to our port (TCP from the target's port, ICMP about our segments) until `duration`
  /// passes, or (with `stopAfterFirst`) until the grace period after the first one.
  mutating func collect(
    for duration: Duration, stopAfterFirst: Bool, role: String, grace: Duration? = nil
  ) throws(ScriptError) -> [ProbeReply] {
    guard let flow else { return [] }
    let packets = try flow.collect(
      for: duration, graceAfterFirst: stopAfterFirst ? grace ?? runner.configuration.grace : nil)
    mark(role)
    return packets.compactMap { ProbeReply.parse($0, local: local, remotePort: remote.port) }
  }

  /// The replies among the flow's transcript entries from `index` on.
  func receivedReplies(since index: Int) -> [ProbeReply] {
    guard let entries = flow?.transcript.entries, index < entries.count else { return [] }
    return entries[index...].compactMap { entry in
      guard entry.direction == .received else { return nil }
      let packet = CapturedPacket(
        bytes: entry.packet, timestampSeconds: entry.timestampSeconds, timestampNanoseconds: entry.timestampNanoseconds,
        checksumNotReady: entry.checksumNotReady)
      return ProbeReply.parse(packet, local: local, remotePort: remote.port)
    }
  }
}

/// Counts finished cases and calls the progress callback from one thread at a time.
final class ProgressCounter: Sendable {
  private let count = Mutex(0)

  func step(_ body: (Int) -> Void) {
    count.withLock { value in
      value += 1
      body(value)
    }
  }
}

/// A fixed number of threads working through a list; results come back in the list's order.
/// The threads are RawSocket's `IsolatedThread`s, so their `pthread_create`/`pthread_join` go
/// through the one syscall seam (and can be made to fail there in tests).
enum ParallelWork {
  static func map<T: Sendable, R: Sendable>(_ items: [T], width: Int, _ body: @escaping @Sendable (T) -> R) -> [R] {
    let work = ParallelState(items: items, body: body)
    var threads: [IsolatedThread] = []
    for _ in 0..<min(width, items.count) {
      // A thread that cannot start leaves its share to the others (or to the calling thread).
      if let thread = try? IsolatedThread.start({ work.work() }) { threads.append(thread) }
    }
    // If no thread could start, the calling thread does the work itself.
    if threads.isEmpty { work.work() }
    for thread in threads { thread.join() }
    work.work()  // picks up nothing unless a thread failed to start
    return work.results()
  }
}

/// The shared list, the next index to take, and a slot per result (each written by one thread,
/// read after every thread is joined).
final class ParallelState<T: Sendable, R: Sendable>: @unchecked Sendable {
  private let items: [T]
  private let body: @Sendable (T) -> R
  private let next = Atomic<Int>(0)
  private let slots: UnsafeMutableBufferPointer<R?>

  init(items: [T], body: @escaping @Sendable (T) -> R) {
    self.items = items
    self.body = body
    slots = .allocate(capacity: items.count)
    slots.initialize(repeating: nil)
  }

  deinit {
    slots.deinitialize()
    slots.deallocate()
  }

  func work() {
    for _ in 0..<items.count {
      let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
      if index >= items.count { return }
      slots[index] = body(items[index])
    }
  }

  func results() -> [R] { slots.compactMap { $0 } }
}
