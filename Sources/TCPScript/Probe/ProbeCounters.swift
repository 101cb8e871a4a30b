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
