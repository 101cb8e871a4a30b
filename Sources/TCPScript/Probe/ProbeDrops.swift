import RawSocket

/// One packet the kernel dropped, as the `skb:kfree_skb` tracepoint reported it.
public struct KernelDrop: Sendable, Hashable {
  /// The thread whose context the drop ran in (`common_pid`): the sender's, when the receive
  /// softirq ran on the thread that sent (as it does after a send on a veth or on `lo`).
  public var thread: Int32
  /// The task's name (`tcpcraft`, `ksoftirqd/1`).
  public var task: String
  /// When, on `CLOCK_BOOTTIME`, in nanoseconds (microsecond resolution).
  public var nanoseconds: UInt64
  /// The skb's EtherType (0x0800 IPv4, 0x86DD IPv6).
  public var etherType: UInt16
  /// The function that dropped it (`tcp_v4_rcv`), without the offset.
  public var function: String
  /// The kernel's name for the reason (`TCP_CSUM`, `NO_SOCKET`, `NOT_SPECIFIED`).
  public var reason: String

  /// `reason (function)`, as the evidence shows it.
  public var brief: String { "\(reason) (\(function))" }

  public init(thread: Int32, task: String, nanoseconds: UInt64, etherType: UInt16, function: String, reason: String) {
    self.thread = thread
    self.task = task
    self.nanoseconds = nanoseconds
    self.etherType = etherType
    self.function = function
    self.reason = reason
  }

  /// Parses the `kfree_skb` lines of a tracefs `trace` file:
  /// `  tcpcraft-4242  [001] ..s1.  9135.890665: kfree_skb: skbaddr=... rx_sk=... protocol=2048
  /// location=tcp_v4_rcv+0x99/0x1400 reason: TCP_CSUM`. Other lines (comments, other events,
  /// anything malformed) are skipped.
  public static func parse(_ text: String) -> [KernelDrop] {
    var drops: [KernelDrop] = []
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      if let drop = parse(line: line) { drops.append(drop) }
    }
    return drops
  }

  static func parse(line: Substring) -> KernelDrop? {
    guard let event = line.firstRange(of: ": kfree_skb: ") else { return nil }
    let head = line[..<event.lowerBound]
    let body = line[event.upperBound...]
    // head: "<task>-<pid> [cpu] flags timestamp"
    guard let bracket = head.firstIndex(of: "[") else { return nil }
    let taskAndPid = head[..<bracket].trimmingSpaces()
    guard let dash = taskAndPid.lastIndex(of: "-"), let thread = Int32(taskAndPid[taskAndPid.index(after: dash)...]) else {
      return nil
    }
    guard let stamp = head.split(separator: " ").last else { return nil }
    let parts = stamp.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 2, let seconds = UInt64(parts[0]), let fraction = UInt64(parts[1]), parts[1].count <= 9 else { return nil }
    var scale: UInt64 = 1
    for _ in parts[1].count..<9 { scale *= 10 }
    let nanoseconds = seconds &* 1_000_000_000 &+ fraction &* scale
    var etherType: UInt16 = 0
    var function = "?"
    var reason = "?"
    for field in body.split(separator: " ") {
      if field.hasPrefix("protocol="), let value = UInt16(field.dropFirst("protocol=".count)) { etherType = value }
      if field.hasPrefix("location=") {
        let location = field.dropFirst("location=".count)
        function = String(location.prefix { $0 != "+" })
      }
    }
    if let marker = body.firstRange(of: "reason: ") { reason = String(body[marker.upperBound...].trimmingSpaces()) }
    return KernelDrop(
      thread: thread, task: String(taskAndPid[..<dash]), nanoseconds: nanoseconds, etherType: etherType, function: function,
      reason: reason)
  }
}

/// What the kernel's drop reasons say about one case.
public enum DropEvidence: Sendable {
  /// Recorded: the drops in the case's window (possibly none), and whose they are.
  case recorded([KernelDrop], scope: String)
  /// Not recorded, and why (`tracefs needs CAP_SYS_ADMIN...`, `the target is not on this host`).
  case unavailable(String)

  /// The evidence line (`nil` when unavailable: that is said in JSON only).
  public var evidenceLine: String? {
    guard case .recorded(let drops, let scope) = self else { return nil }
    if drops.isEmpty { return "kernel drop reasons (skb:kfree_skb, \(scope)): no drop" }
    return "kernel drop reasons (skb:kfree_skb, \(scope)): " + Self.tally(drops)
  }

  /// `TCP_CSUM (tcp_v4_rcv), NO_SOCKET (tcp_v4_rcv) x2`, in order of first appearance.
  public static func tally(_ drops: [KernelDrop]) -> String {
    var order: [String] = []
    var counts: [String: Int] = [:]
    for drop in drops {
      if counts[drop.brief] == nil { order.append(drop.brief) }
      counts[drop.brief, default: 0] += 1
    }
    return order.map { (counts[$0] ?? 1) > 1 ? "\($0) x\(counts[$0] ?? 1)" : $0 }.joined(separator: ", ")
  }

  /// The reasons, in order of first appearance (empty when unavailable).
  public var reasons: [String] {
    guard case .recorded(let drops, _) = self else { return [] }
    var seen: [String] = []
    for drop in drops where !seen.contains(drop.reason) { seen.append(drop.reason) }
    return seen
  }
}

/// Where a case's drops are looked for: the thread it ran on and the time its crafted packets
/// were in flight.
struct DropWindow: Sendable {
  var thread: Int32
  var start: UInt64
  var end: UInt64
}

extension ProbeRunner {
  /// Starts the drop tracer for a run when the target's kernel is this machine's (a namespace of
  /// ours, or `lo`); otherwise why not.
  func startDropTrace() -> Result<DropTrace, DropTraceProblem> {
    configuration.targetKernel.startDropTrace(asked: configuration.tracesDrops)
  }

  /// Gives each result the drops of its window (read once from the tracer), with an evidence
  /// line; without a tracer, the reason it is missing.
  func attributeDrops(_ results: inout [ProbeResult], trace: Result<DropTrace, DropTraceProblem>) {
    // With a source address no interface owns (kernel fact 7), the host drops every reply the
    // target sends us: that is the path, not the case.
    DropEvidence.attribute(
      &results, trace: trace, scope: configuration.targetKernel.dropScope, unownedSource: !configuration.guardResets)
  }
}

extension DropEvidence {
  /// Reads the tracer once and gives each result the drops that ran on its own thread inside its
  /// window, of its IP version (a veth or `lo` delivers what a thread sends in that thread's
  /// softirq, whereas ksoftirqd and kworkers also carry the rest of the host's traffic).
  static func attribute(
    _ results: inout [ProbeResult], trace: Result<DropTrace, DropTraceProblem>, scope: String, unownedSource: Bool
  ) {
    let drops: [KernelDrop]
    switch trace {
    case .failure(let problem):
      for index in results.indices { results[index].drops = .unavailable(problem.description) }
      return
    case .success(let tracer):
      do throws(Errno) {
        drops = KernelDrop.parse(try tracer.text())
      } catch {
        for index in results.indices { results[index].drops = .unavailable("reading the trace: \(error)") }
        return
      }
    }
    let scope = scope + ", the case's thread"
    for index in results.indices {
      guard let window = results[index].dropWindow else {
        results[index].drops = .unavailable("the case sent nothing")
        continue
      }
      let etherType: UInt16 = results[index].edgeCase.family == .ipv6 ? 0x86DD : 0x0800
      let mine = drops.filter { drop in
        guard window.start <= drop.nanoseconds, drop.nanoseconds <= window.end, drop.thread == window.thread else { return false }
        if unownedSource && Self.isHostDropOfReply(drop) { return false }
        return drop.etherType == etherType
      }
      let evidence = DropEvidence.recorded(mine, scope: scope)
      results[index].drops = evidence
      if let line = evidence.evidenceLine { results[index].evidence.append(line) }
    }
  }

  /// The host's drop of a reply addressed to our unowned source address (forwarding off: IPv4's
  /// `ip_error` with IP_INADDRERRORS; IPv6's `ip6_forward` path).
  static func isHostDropOfReply(_ drop: KernelDrop) -> Bool {
    (drop.reason == "IP_INADDRERRORS" && drop.function == "ip_error")
      || (drop.function.hasPrefix("ip6_forward") || drop.function == "ip6_pkt_drop")
  }
}

/// Why the drop tracer could not start.
struct DropTraceProblem: Error, Sendable {
  var description: String

  /// Starts the drop tracer when `asked` and the target's kernel is this machine's (`local`);
  /// otherwise why not. Shared by the IPv4 and IPv6 probe runners.
  static func start(asked: Bool, local: Bool) -> Result<DropTrace, DropTraceProblem> {
    guard asked else { return .failure(DropTraceProblem(description: "not asked for")) }
    guard local else { return .failure(DropTraceProblem(description: "the target's kernel is not this host's")) }
    do throws(TraceFSError) {
      return .success(try DropTrace.start())
    } catch {
      return .failure(DropTraceProblem(description: error.description))
    }
  }
}

extension StringProtocol {
  fileprivate func trimmingSpaces() -> Substring {
    var text = Substring(self)
    while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
    while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
    return text
  }
}
