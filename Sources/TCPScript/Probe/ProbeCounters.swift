import RawSocket

/// The kernel's SNMP and extended counters (`/proc/net/snmp`, `/proc/net/netstat`) of one
/// network namespace, named as `nstat` names them (`TcpInCsumErrors`, `TcpExtPAWSEstab`,
/// `IpExtInTruncatedPkts`). The evidence for a silent drop: the counter that rose.
public struct KernelCounters: Sendable {
  public var values: [String: Int64]

  public init(values: [String: Int64]) { self.values = values }

  /// Counters every packet moves; shown apart from the ones that say why a packet was dropped.
  public static let trafficCounters: Set<String> = [
    "IpInReceives", "IpInDelivers", "IpOutRequests", "IpExtInOctets", "IpExtOutOctets", "IpExtInNoECTPkts",
    "IpExtInECT0Pkts", "IpExtInECT1Pkts", "IpExtInCEPkts", "TcpInSegs", "TcpOutSegs", "TcpActiveOpens",
    "TcpPassiveOpens", "TcpCurrEstab", "TcpExtTCPHPHits", "TcpExtTCPPureAcks", "TcpExtTCPHPAcks",
    "TcpExtTCPOrigDataSent", "TcpExtTCPDelivered", "TcpExtTCPRcvCoalesce", "TcpExtTCPAutoCorking",
    "TcpExtTCPBacklogCoalesce", "TcpExtDelayedACKs", "TcpExtTCPKeepAlive", "IpExtOutBcastPkts",
    "IpExtInBcastPkts", "IpExtInMcastPkts", "IpExtOutMcastPkts", "IpExtInBcastOctets", "IpExtOutBcastOctets",
    "IpExtInMcastOctets", "IpExtOutMcastOctets", "IcmpInMsgs", "IcmpOutMsgs", "IpOutTransmits",
    "TcpExtTCPToZeroWindowAdv", "TcpExtTCPFromZeroWindowAdv", "TcpExtTCPWantZeroWindowAdv",
    "TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPSynRetrans", "TcpRetransSegs",
    "TcpExtTCPRetransFail", "TcpExtTCPSpuriousRtxHostQueues", "TcpExtTCPMemoryPressures",
    // IPv6 (/proc/net/snmp6).
    "Ip6InReceives", "Ip6InDelivers", "Ip6OutRequests", "Ip6InOctets", "Ip6OutOctets", "Ip6InNoECTPkts",
    "Ip6OutTransmits", "Ip6InMcastPkts", "Ip6OutMcastPkts", "Ip6InMcastOctets", "Ip6OutMcastOctets", "Icmp6InMsgs",
    "Icmp6OutMsgs", "Icmp6InEchos", "Icmp6OutEchoReplies", "Icmp6InType128", "Icmp6OutType129",
    "Icmp6InNeighborSolicits", "Icmp6InNeighborAdvertisements", "Icmp6OutNeighborSolicits",
    "Icmp6OutNeighborAdvertisements", "Icmp6InType135", "Icmp6InType136", "Icmp6OutType135", "Icmp6OutType136",
    "Icmp6OutType133", "Icmp6OutType143", "Icmp6OutMLDv2Reports", "Icmp6OutRouterSolicits",
  ]

  /// Reads the counters of the calling thread's namespace, or of the namespace `ip netns add`
  /// named `namespace`. `nil` when they cannot be read.
  public static func read(namespace: String? = nil) -> KernelCounters? {
    let body = { () -> KernelCounters? in
      var values: [String: Int64] = [:]
      for file in ["/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"] {
        guard let text = readText(file) else { return nil }
        parse(text, into: &values)
      }
      // IPv6's counters, one `Name value` a line (absent when IPv6 is disabled).
      if let text = readText("/proc/thread-self/net/snmp6") { parseLines(text, into: &values) }
      return KernelCounters(values: values)
    }
    guard let namespace else { return body() }
    guard ProbeNamespace.problem(with: namespace) == nil else { return nil }
    return (try? NetworkNamespace.run(named: namespace, body)) ?? nil
  }

  /// Reads the counters of the namespace whose file is at `path` (`/proc/self/fd/N` of a
  /// namespace this process holds).
  public static func read(namespaceFile path: String) -> KernelCounters? {
    guard path.hasPrefix("/proc/self/fd/") else { return nil }
    return (try? NetworkNamespace.run(inNamespaceAt: path) { read() }) ?? nil
  }

  /// Parses the `Prefix: Name Name ...` / `Prefix: 1 2 ...` line pairs of `/proc/net/snmp` and
  /// `/proc/net/netstat`.
  public static func parse(_ text: String, into values: inout [String: Int64]) {
    let lines = text.split(separator: "\n")
    var index = 0
    while index + 1 < lines.count {
      let names = lines[index].split(separator: " ")
      let numbers = lines[index + 1].split(separator: " ")
      index += 2
      guard let prefix = names.first, prefix.hasSuffix(":"), numbers.first == prefix, names.count == numbers.count else {
        index -= 1
        continue
      }
      let group = prefix.dropLast()
      for (name, number) in zip(names.dropFirst(), numbers.dropFirst()) {
        if let value = Int64(number) { values[String(group) + String(name)] = value }
      }
    }
  }

  /// Parses `/proc/net/snmp6`'s `Name value` lines.
  public static func parseLines(_ text: String, into values: inout [String: Int64]) {
    for line in text.split(separator: "\n") {
      let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
      guard fields.count == 2, let value = Int64(fields[1]) else { continue }
      values[String(fields[0])] = value
    }
  }

  /// The counters that rose since `earlier`, largest rise first among equals by name:
  /// `(name, rise)`.
  public func rises(since earlier: KernelCounters) -> [(name: String, rise: Int64)] {
    var result: [(name: String, rise: Int64)] = []
    for (name, value) in values {
      let before = earlier.values[name] ?? 0
      if value > before { result.append((name, value - before)) }
    }
    return result.sorted { $0.name < $1.name }
  }

  /// Evidence lines for `rises` in `scope`: the notable counters, then the traffic counters when
  /// nothing replied (either family's probe).
  static func riseEvidence(_ rises: [(name: String, rise: Int64)], scope: String, replied: Bool) -> [String] {
    let notable = rises.filter { !trafficCounters.contains($0.name) }
    let traffic = rises.filter { trafficCounters.contains($0.name) }
    var lines: [String] = []
    if !notable.isEmpty {
      lines.append("kernel counters rose (\(scope)): " + notable.map { "\($0.name) +\($0.rise)" }.joined(separator: ", "))
    }
    if !traffic.isEmpty && !replied {
      lines.append("traffic counters (\(scope)): " + traffic.map { "\($0.name) +\($0.rise)" }.joined(separator: ", "))
    }
    return lines
  }

  /// The text of a small kernel file (`/proc/...`), read through RawSocket's seam; a symbolic
  /// link in the last place is refused. At most 512 KiB.
  static func readText(_ path: String) -> String? {
    guard let file = try? FileDescriptor.openForReading(path: path) else { return nil }
    defer { try? file.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    for _ in 0..<64 {
      guard let count = try? file.read(into: &chunk), count > 0 else { break }
      bytes.append(contentsOf: chunk[0..<min(count, chunk.count)])
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// Where a probe can read the target's kernel: a network namespace of ours (its file, or its
/// `ip netns` name), this host (a target on `lo`), or nowhere (a target elsewhere). The one rule
/// both probe runners (IPv4 and IPv6) use for whether that kernel is this machine's, for its
/// counters and for how drop evidence names its scope.
struct TargetKernel {
  var namespaceFile: String?
  var namespaceName: String?
  var readsThisHost: Bool

  /// In a namespace of ours.
  var inNamespace: Bool { namespaceFile != nil || namespaceName != nil }
  /// The target's kernel is this machine's: its counters, drop reasons and sockets can be read.
  var isLocal: Bool { inNamespace || readsThisHost }

  /// The target kernel's counters now, `nil` when they cannot be read (or the kernel is not ours).
  func counters() -> KernelCounters? {
    if let namespaceFile { return KernelCounters.read(namespaceFile: namespaceFile) }
    if let namespaceName { return KernelCounters.read(namespace: namespaceName) }
    return readsThisHost ? KernelCounters.read() : nil
  }

  /// Starts the drop tracer for a run (when `asked` and the kernel is this machine's), or why not.
  func startDropTrace(asked: Bool) -> Result<DropTrace, DropTraceProblem> {
    DropTraceProblem.start(asked: asked, local: isLocal)
  }

  /// Where the drop tracer looked, for the evidence.
  var dropScope: String { inNamespace ? "target namespace and this host's end of the veth" : "this host, host-wide" }
}

extension ProbeConfiguration {
  var targetKernel: TargetKernel {
    TargetKernel(namespaceFile: counterNamespaceFile, namespaceName: counterNamespace, readsThisHost: readsLocalCounters)
  }
  /// Whether the target's kernel is this machine's (`TargetKernel.isLocal`).
  public var targetKernelIsLocal: Bool { targetKernel.isLocal }
}

extension IPv6ProbeConfiguration {
  var targetKernel: TargetKernel {
    TargetKernel(namespaceFile: counterNamespaceFile, namespaceName: counterNamespaceName, readsThisHost: readsLocalCounters)
  }
  /// Whether the target's kernel is this machine's (`TargetKernel.isLocal`).
  public var targetKernelIsLocal: Bool { targetKernel.isLocal }
}
