import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft probe`: run named edge cases against a real TCP stack and print a conformance table
/// (case, RFC, expected, observed, verdict, evidence); `--list` describes the catalog;
/// `--generate FIELD` prints a family of segments for harnesses.
enum ProbeCommand: Command {
  static let spec = CommandSpec(
    name: "probe",
    summary: "edge-case segments against a real stack: a conformance table with RFC and evidence",
    synopsis: [
      "HOST:PORT | [ADDR]:PORT (--all | --case NAME ...) [options]",
      "--target self [--ipv6] (--all | --case NAME ...) [options]",
      "--list [--ipv6] [--json]",
      "[HOST:PORT] --generate FIELD|all [--random --count N] [--seed N] [--bytes] [--json] [--pcap FILE]",
    ],
    about: """
      Sends edge-case segments a normal stack never sends to a real one, each case on a fresh
      source port (and, where it needs one, a fresh connection opened by hand), and prints a
      conformance table: the case, the RFC that governs it, the reaction a conforming stack shows,
      what came back, and the verdict, with the evidence under each row: the replies as tcpdump
      prints them, the kernel counters that rose (in --netns; on this host they are host-wide and
      noisy, and say so), "no reply within T", the positive controls, and, when the target's
      kernel is this machine's (--target self, --netns, lo) and tracefs can be mounted (root),
      the kernel's own drop reasons (skb:kfree_skb: TCP_CSUM, NO_SOCKET, TCP_FLAGS...) for the
      packets dropped while the case's crafted packets were in flight, on the case's own thread.
      Positive controls: before a case that expects silence a plain SYN on the same path must draw
      its answer (RST from the closed port, SYN,ACK from the listener), and after every case the
      target must answer again (a SYN, or a data byte in the case's connection). A failed control
      makes the case "inconclusive: path broken (...)", never "conforms".
      Verdicts: conforms; partly (the required part holds, a recommended or unmeasured part does
      not: the observation says which); dropped (a deliberate drop, with its reason and RFC);
      no requirement (a procedure the RFC only suggests was not followed); deviates; no reply;
      inconclusive (the harness could not judge); not run (needs a layer-2 path).
      MUST/SHOULD/MAY come from BCP 14 words only; "procedure" marks RFC 9293's event-processing
      steps, "implied" what follows from the general rules.
      Cases run at once, each from its own source port on its own connection (the kernel's
      per-connection limits, such as the challenge-ACK rate limit, never meet), at most --parallel
      of them holding state at the listener (its SYN backlog must not overflow into SYN cookies,
      which change the answers); --sequential runs
      them one after another, for counters that belong to one case. The same seed gives the same
      ports and numbers either way. Frames leave at layer 2 (AF_PACKET), so malformed IPv4 headers
      stay as built. A progress line goes to stderr while it runs. Each case ends with a RST for
      what it left open.

      Generators (without HOST:PORT nothing is sent and no privileges are needed; with it, each
      segment goes to the target from a fresh port and the replies are shown beside it): the
      template SYN with FIELD walked over its boundary values; `all` walks every field. FIELD:
      \(SegmentField.allCases.map(\.rawValue).joined(separator: ", ")).
      On lo, packets go through a raw IPv4 socket whose kernel rewrites the IPv4 checksum and total
      length: walk ip-* fields against a target behind a veth or Ethernet interface.

      IPv6 (an [ADDR]:PORT target, or --ipv6 with --target self): the IPv6 cases, judged from the
      captured replies, one at a time. With --target self the namespace also gets an IPv6 address
      and a listener on it, and each case goes out whole at layer 2. [::1]:PORT is probed on lo,
      each packet sent through a raw IPv6 socket with IPV6_HDRINCL (every header, extension
      headers included, exactly as built; the evidence says which path), with the RST guard on
      each case's port and host-wide counters marked noisy; another address (a ULA in a namespace
      you made, reached by route) at layer 2 from the route's source, with the guard too (--netns
      names that namespace for clean counters). A bracketed target implies the IPv6 cases; --ipv6
      with an IPv4 target is a usage error. Over IPv6 the cases run one at a time; most ride on an
      ICMPv6 echo request ("processed" means an echo reply), with a plain echo request as the
      positive control before and after; the TCP ones are the IPv4 cases over IPv6 (a SYN as
      control; the established ones, SYN data and window scale on a connection opened over IPv6,
      as over IPv4).

      Exit status: 0 no case deviates (conforms, partly, dropped, no requirement, not run);
      1 some case deviates or got no reply on a working path; 2 bad usage; 3 the harness could not
      judge some case (a positive control failed: path broken or target gone; a state not reached)
      and none deviates.
      """,
    options: [
      OptionGroup([
        .toggle("--all", "every case (`--list` shows them)"),
        .string("--target", "self", "instead of HOST:PORT: make a namespace with a Linux listener behind a veth, probe it, remove it"),
        .repeatable("--case", "NAME", "one case; repeat for more"),
        .toggle("--ipv6", "the IPv6 cases (RFC 8200, 7112, 5722, 6946, 5095, 8504; TCP) against --target self (implied by an [ADDR]:PORT target); --list: list them"),
        .toggle("--list", "describe the catalog of cases"),
        .seconds("--timeout", "how long to wait for a reply, and how long silence must last (default 1)"),
        .integer("--closed-port", UInt16.self, range: 1...65535, "N", "a port nothing listens on at the target (default PORT+1)"),
        .string("--source", "ADDR", "our source address (default: the route's)"),
        .toggle("--no-guard", "no RST guard: for a --source no interface owns, whose replies draw no RST (kernel fact 7)"),
        .string("--netns", "NAME", "the target's network namespace (an `ip netns` name, never a path), to read its counters"),
        .toggle("--sequential", "one case at a time (default: all at once, each on its own port and connection)"),
        .integer("--parallel", UInt16.self, range: 1...512, "N",
          "at most N cases hold state at the listening port at once (default 12, under a backlog of 16)"),
        .string("--iface", "NAME", "send through this interface (default: the route's)"),
        .string("--dst-mac", "MAC", "the next hop's MAC on --iface (default: the neighbour's)"),
        .integer("--seed", UInt64.self, "N", "source ports, ISNs, IDs and TSvals from this seed (same seed, same segments)"),
        .toggle("--bytes", "the bytes of every crafted packet and every reply"),
        .toggle("--ladder", "under each case, its packets as a ladder diagram (setup, controls and cleanup included)"),
        .toggle("--explain", "under each case, every packet with one sentence on the rule at work"),
        .string("--pcap", "FILE", "every packet sent and received (setup and cleanup included)"),
        .string("--svg", "FILE", "each case's ladder as an SVG picture (with several cases: FILE-CASE.svg, one a case)"),
        .toggle("--json", "one JSON object a case (sent bytes, replies, the SND.NXT/RCV.NXT judged against, counters, drop reasons, the connection's fate, controls, verdict, rule, evidence), then a summary (target, kernel, timeout, version, seed)"),
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
      "sudo tcpcraft probe --target self --all          # Linux in a namespace of its own, clean counters",
      "sudo tcpcraft probe --target self --ipv6 --all   # the IPv6 cases, over IPv6",
      "sudo tcpcraft probe [::1]:8080 --all              # the IPv6 cases against a listener on ::1",
      "sudo tcpcraft probe 127.0.0.1:8080 --case est-rst-in-window --case closed-syn --bytes",
      "tcpcraft probe --list",
      "tcpcraft probe --generate data-offset --bytes",
      "tcpcraft probe --generate all --random --count 50 --seed 7 --pcap fuzz.pcap",
      "sudo tcpcraft probe 127.0.0.1:8080 --generate wscale --timeout 0.3",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    if arguments.has("--list") { return list(json: arguments.has("--json"), ipv6: arguments.has("--ipv6")) }
    if arguments.has("--generate") && arguments.positionals.isEmpty { return generate(arguments, runner: nil) }

    let cases: [EdgeCase]
    let parsed: ProbeConfiguration
    let ownTarget = arguments.value("--target") != nil
    // A bracketed IPv6 target implies the IPv6 catalog.
    var ipv6 = arguments.has("--ipv6")
    var target6: IPv6Address?
    do throws(UsageError) {
      if let name = arguments.value("--target") {
        guard name == "self" else { throw UsageError("--target: \"\(name)\" is not a target this command makes; say --target self") }
        try arguments.expectPositionals(atMost: 0, command: "probe")
        for option in ["--netns", "--iface", "--source", "--closed-port", "--no-guard", "--generate"] where arguments.has(option) {
          throw UsageError("--target self chooses \(option) itself; leave it out")
        }
      }
      let target = ownTarget ? HostPort(address: IPv4Address(10, 0, 0, 2), port: 8080) : try arguments.target(
        command: "probe", missing: "probe: give the target as HOST:PORT or [ADDR]:PORT, or --target self (see `tcpcraft probe --help`)",
        defaultHost: .loopback, allowIPv6: true)
      if let address = target.ipv6 {
        if arguments.has("--generate") { throw UsageError("--generate walks IPv4 SYNs: give an IPv4 HOST:PORT") }
        target6 = address
        ipv6 = true
      } else if ipv6 && !ownTarget {
        throw UsageError("--ipv6 probes the IPv6 cases over IPv6: give the target as [ADDR]:PORT (like [::1]:8080), or --target self")
      }
      cases = arguments.has("--generate") ? [] : try selectCases(arguments, ipv6: ipv6)
      var config = ProbeConfiguration(target: Endpoint(address: target6.map { .v6($0) } ?? .v4(target.address), port: target.port))
      config.closedPort = arguments.integer("--closed-port", as: UInt16.self)
      if let text = arguments.value("--source") {
        if target6 != nil {
          guard let address = IPv6Address(text) else { throw UsageError("--source: \"\(text)\" is not an IPv6 address") }
          config.sourceAddress6 = address
        } else {
          guard let address = HostPort.address(text) else { throw UsageError("--source: \"\(text)\" is not an IPv4 address") }
          config.sourceAddress = address
        }
      }
      config.guardResets = !arguments.has("--no-guard")
      config.replyTimeout = arguments.seconds("--timeout") ?? .seconds(1)
      if let name = arguments.value("--netns") {
        if let problem = ProbeNamespace.problem(with: name) { throw UsageError("--netns: \(problem)") }
        config.counterNamespace = name
      }
      config.interface = arguments.value("--iface")
      if let text = arguments.value("--dst-mac") {
        guard let mac = MACAddress(text) else { throw UsageError("--dst-mac: \"\(text)\" is not a MAC address") }
        config.destinationMAC = mac
      }
      if let seed = arguments.integer("--seed", as: UInt64.self) {
        config.seed = seed
      } else {
        var system = SystemRandomNumberGenerator()
        config.seed = system.next() >> 1
      }
      parsed = config
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }

    let json = arguments.has("--json")
    var configuration = parsed
    var made: SelfTarget?
    if ownTarget {
      // A normal user (no sudo, no setcap): the target is ours alone, so make it inside a private
      // user + network namespace (with its own /run/netns for `ip netns add`), as demo does.
      // Before any thread starts: unshare needs a single-threaded process.
      if UserNamespace.wouldHelp {
        do throws(UserNamespace.EntryError) {
          try UserNamespace.enter(privateMounts: true)
        } catch {
          Terminal.error(error.advice())
          return 1
        }
      }
      do throws(ScriptError) {
        try KernelTransport.requirePrivileges([.netRaw, .netAdmin])
      } catch {
        Terminal.error("tcpcraft: \(error.description)")
        return 1
      }
      do throws(SelfTarget.Failure) {
        let own = try SelfTarget(ipv6: arguments.has("--ipv6"))
        made = own
        configuration.target = Endpoint(address: own.targetAddress, port: own.port)
        configuration.closedPort = own.port + 1
        configuration.sourceAddress = own.sourceAddress
        configuration.guardResets = false
        configuration.interface = own.hostInterface
        configuration.sourceMAC = own.hostMAC
        // --dst-mac still applies: a wrong next hop is how a broken path is shown (exit status 3).
        configuration.destinationMAC = parsed.destinationMAC ?? own.namespaceMAC
        configuration.counterNamespace = "of --target self"
        configuration.counterNamespaceFile = own.namespaceFile
      } catch {
        Terminal.error("tcpcraft: \(error.description)")
        return 3
      }
    }
    defer { made?.close() }
    if ipv6, let own = made {
      guard let target = own.targetAddress6, let source = own.sourceAddress6 else {
        Terminal.error("tcpcraft: --target self made no IPv6 address")
        return 3
      }
      var six = IPv6ProbeConfiguration(
        target: target, port: own.port, closedPort: own.port + 1, source: source, interface: own.hostInterface,
        sourceMAC: own.hostMAC, destinationMAC: configuration.destinationMAC ?? own.namespaceMAC,
        replyTimeout: configuration.replyTimeout, counterNamespace: "of --target self", counterNamespaceFile: own.namespaceFile,
        seed: configuration.seed)
      six.grace = .milliseconds(100)
      return runIPv6(arguments, cases: cases, configuration: six)
    }
    if let target6 {
      return probeIPv6Target(arguments, cases: cases, target: target6, parsed: configuration)
    }
    let runner: ProbeRunner
    do throws(ScriptError) {
      var config = configuration
      if config.interface != nil && (config.sourceMAC == nil || config.destinationMAC == nil || config.sourceAddress == nil) {
        let route = try ProbeLink.route(to: config.target.ipv4 ?? .any)
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
      let intro =
        "probing \(configuration.target) "
        + "(closed port \(runner.closedPort)) from \(runner.sourceAddress) via \(runner.interfaceName): "
        + "\(cases.count) case\(cases.count == 1 ? "" : "s")"
        + (arguments.has("--sequential") ? " one at a time" : " at once") + ", wait "
        + "\(ScriptError.format(configuration.replyTimeout)) for replies, seed \(configuration.seed) "
        + "(--seed replays the same ports and numbers)"
      for line in wrap(intro, 100) { Terminal.out(line) }
    }
    // Our own listener has a backlog of 1024: every case can hold its state there at once.
    if ownTarget { runner.listenerSlots = 64 }
    if let slots = arguments.integer("--parallel", as: UInt16.self) { runner.listenerSlots = Int(slots) }
    // A listener on this host with a small backlog (python3's http.server and socketserver use
    // 5): twelve cases at once overflow its SYN queue, and the cases after the overflow draw
    // nothing ("path broken", "no reply"). Stay under three quarters of its backlog, as the
    // default 12 does under a backlog of 16, unless --parallel or --sequential says otherwise.
    if !ownTarget && !arguments.has("--parallel") && !arguments.has("--sequential") && runner.interfaceName == "lo",
      let backlog = listenerBacklog(port: configuration.target.port)
    {
      let slots = max(1, backlog * 3 / 4)
      if slots < runner.listenerSlots {
        runner.listenerSlots = slots
        if !json {
          Terminal.out(
            "the listener on port \(configuration.target.port) has a backlog of \(backlog): at most \(slots) case\(slots == 1 ? "" : "s") hold state there at once (--parallel N to change)")
        }
      }
    }
    let results = withProgress { progress in
      runner.run(cases, sequential: arguments.has("--sequential"), progress: progress)
    }

    printResults(results, json: json, arguments)
    return finish(
      results,
      RunSummary(
        target: configuration.target.description, closedPort: runner.closedPort, source: runner.sourceAddress.description,
        interface: runner.interfaceName, sentThrough: nil, counterNamespace: configuration.counterNamespace,
        kernelIsTarget: runner.configuration.targetKernelIsLocal, timeout: configuration.replyTimeout,
        seed: configuration.seed, sequential: arguments.has("--sequential")),
      arguments)
  }

  /// `probe [ADDR]:PORT`: the IPv6 cases against an IPv6 target this host routes to: `[::1]:PORT`
  /// on lo (through a raw IPv6 socket with IPV6_HDRINCL, kernel fact 18; counters host-wide), or
  /// an address behind a veth or Ethernet (at layer 2, with the route's source and MACs). The
  /// source is an address this host owns, so the RST guard covers each case's port unless
  /// `--no-guard`.
  static func probeIPv6Target(_ arguments: Arguments, cases: [EdgeCase], target: IPv6Address, parsed: ProbeConfiguration) -> Int32 {
    let port = parsed.target.port
    let six: IPv6ProbeConfiguration
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges(parsed.guardResets ? [.netRaw, .netAdmin] : [.netRaw])
      var interface = parsed.interface
      var source = parsed.sourceAddress6
      var sourceMAC = parsed.sourceMAC
      var destinationMAC = parsed.destinationMAC
      if interface == nil || source == nil || destinationMAC == nil {
        let route = try ProbeLink.route(to: .v6(target))
        interface = interface ?? route.interface
        source = source ?? route.source.ipv6
        sourceMAC = sourceMAC ?? route.sourceMAC
        destinationMAC = destinationMAC ?? route.destinationMAC
      }
      guard let interface, let source else {
        throw .system(step: "probing [\(target)]:\(port)", description: "no route gave an interface and a source address")
      }
      var config = IPv6ProbeConfiguration(
        target: target, port: port, closedPort: parsed.closedPort ?? (port < 65535 ? port + 1 : port - 1), source: source,
        interface: interface, sourceMAC: sourceMAC ?? .zero, destinationMAC: destinationMAC ?? .zero,
        replyTimeout: parsed.replyTimeout, counterNamespace: parsed.counterNamespace, seed: parsed.seed)
      config.grace = .milliseconds(100)
      config.guardResets = parsed.guardResets
      config.counterNamespaceName = parsed.counterNamespace
      config.readsLocalCounters = parsed.counterNamespace == nil && interface == "lo"
      six = config
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 1
    }
    return runIPv6(arguments, cases: cases, configuration: six)
  }

  /// The IPv6 cases against `configuration`'s target, one at a time (`--target self --ipv6`, or
  /// `[ADDR]:PORT`).
  static func runIPv6(_ arguments: Arguments, cases: [EdgeCase], configuration: IPv6ProbeConfiguration) -> Int32 {
    let target = configuration.target
    let source = configuration.source
    let timeout = configuration.replyTimeout
    let seed = configuration.seed
    let port = configuration.port
    let closedPort = configuration.closedPort
    let interface = configuration.interface
    let json = arguments.has("--json")
    if !json {
      let intro =
        "probing [\(target)]:\(port) (closed port \(closedPort)) from \(source) via \(interface): "
        + "\(cases.count) IPv6 case\(cases.count == 1 ? "" : "s") one at a time, wait \(ScriptError.format(timeout)) "
        + "for replies, seed \(seed)"
      for line in wrap(intro, 100) { Terminal.out(line) }
    }
    let results = withProgress { progress in IPv6ProbeRunner(configuration).run(cases, progress: progress) }
    printResults(results, json: json, arguments)
    return finish(
      results,
      RunSummary(
        target: "[\(target)]:\(port)", closedPort: closedPort, source: source.description, interface: interface,
        sentThrough: configuration.sendsThroughRawSocket ? "raw IPv6 socket (IPV6_HDRINCL)" : "layer 2",
        counterNamespace: configuration.counterNamespace, kernelIsTarget: configuration.targetKernelIsLocal,
        timeout: timeout, seed: seed, sequential: true),
      arguments)
  }

  /// What a run's closing summary says, in either family.
  struct RunSummary {
    var target: String
    var closedPort: UInt16
    var source: String
    var interface: String
    /// How an IPv6 run's packets left (its summary also says `"family": "ipv6"`); `nil` for IPv4.
    var sentThrough: String?
    /// The namespace whose counters were read (`"of --target self"` for our own target).
    var counterNamespace: String?
    /// The target's kernel is this machine's (the runner's `targetKernelIsLocal`).
    var kernelIsTarget: Bool
    var timeout: Duration
    var seed: UInt64
    var sequential: Bool

    var counters: String { counterNamespace.map { "namespace \($0)" } ?? (interface == "lo" ? "host-wide (noisy)" : "none") }
  }

  /// Writes `--pcap` and `--svg`, then the summary: a JSON line (`--json`) or the counts. Returns
  /// the exit status.
  static func finish(_ results: [ProbeResult], _ summary: RunSummary, _ arguments: Arguments) -> Int32 {
    if let path = arguments.value("--pcap") {
      if !writePcap(results, to: absolute(path)) { return 1 }
    }
    if let path = arguments.value("--svg") {
      if !writeSVG(results, to: absolute(path)) { return 1 }
    }
    var counts: [Verdict: Int] = [:]
    for result in results { counts[result.verdict, default: 0] += 1 }
    let status = Verdict.exitStatus(results.map(\.verdict))
    if arguments.has("--json") {
      var line = JSONLine()
      line.add("type", "summary")
      line.add("target", summary.target)
      line.add("closed_port", summary.closedPort)
      line.add("source", summary.source)
      line.add("interface", summary.interface)
      if let sentThrough = summary.sentThrough {
        line.add("family", "ipv6")
        line.add("sent_through", sentThrough)
      }
      line.add("kernel", ProbeNamespace.localKernelRelease())
      line.add("kernel_is_target", summary.kernelIsTarget)
      line.add("timeout_seconds", Double(summary.timeout.components.seconds) + Double(summary.timeout.components.attoseconds) / 1e18)
      line.add("tcpcraft_version", ProbeRunner.toolVersion)
      line.add("seed", String(summary.seed))
      line.add("mode", summary.sequential ? "sequential" : "concurrent")
      line.add("cases", results.count)
      for verdict in Verdict.allCases { line.add(verdict.rawValue, counts[verdict] ?? 0) }
      line.add("kernel_counters", summary.counters)
      addDropReasons(results, to: &line)
      line.add("exit_status", Int(status))
      Terminal.out(line.description)
    } else {
      let text = Verdict.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
      let cases = summary.sentThrough == nil ? "cases" : "IPv6 cases"
      Terminal.out("")
      for line in wrap("\(results.count) \(cases): \(text); exit status \(status)", 100) { Terminal.out(line) }
      if let path = arguments.value("--pcap") { Terminal.out("wrote every packet to \(absolute(path))") }
    }
    return status
  }

  /// Runs the cases through `body` with a progress line per case: rewritten in place on a
  /// terminal (and cleared at the end), one line each otherwise.
  static func withProgress(
    _ body: (@escaping @Sendable (Int, Int, EdgeCase) -> Void) -> [ProbeResult]
  ) -> [ProbeResult] {
    let interactive = FileDescriptor.standardError.isTerminal
    let results = body { index, count, edgeCase in
      let line = "[\(index)/\(count)] \(edgeCase.name): \(edgeCase.summary)"
      if interactive {
        try? FileDescriptor.standardError.writeAll(Array(("\r\u{1B}[2K" + line).utf8))
      } else {
        Terminal.error(line)
      }
    }
    if interactive { try? FileDescriptor.standardError.writeAll(Array("\r\u{1B}[2K".utf8)) }
    return results
  }

  /// The summary line's `drop_reasons`: how the first result's drops were recorded (every case
  /// of a run shares the recorder), or `null` without results.
  static func addDropReasons(_ results: [ProbeResult], to line: inout JSONLine) {
    switch results.first?.drops {
    case .recorded(_, let scope)?: line.add("drop_reasons", "recorded (skb:kfree_skb; \(scope))")
    case .unavailable(let why)?: line.add("drop_reasons", "drop reasons unavailable (\(why))")
    case nil: line.add("drop_reasons", raw: "null")
    }
  }

  /// The results as JSON lines (`--json`) or the table (`--bytes`, `--ladder`, `--explain`).
  static func printResults(_ results: [ProbeResult], json: Bool, _ arguments: Arguments) {
    if json {
      for result in results { Terminal.out(jsonLine(result, bytes: arguments.has("--bytes")).description) }
    } else {
      printTable(results, bytes: arguments.has("--bytes"), ladder: arguments.has("--ladder"), explain: arguments.has("--explain"))
    }
  }

  static func selectCases(_ arguments: Arguments, ipv6: Bool) throws(UsageError) -> [EdgeCase] {
    let catalog = ipv6 ? EdgeCaseCatalog.ipv6 : EdgeCaseCatalog.all
    if arguments.has("--all") { return catalog }
    let names = arguments.all("--case")
    guard !names.isEmpty else { throw UsageError("probe: say which cases: --all, or --case NAME (see `tcpcraft probe --list`)") }
    var cases: [EdgeCase] = []
    for name in names {
      guard let found = catalog.first(where: { $0.name == name }) else {
        if ipv6 { throw UsageError("probe: no IPv6 case \"\(name)\" (see `tcpcraft probe --list --ipv6`)") }
        if EdgeCaseCatalog.namedIPv6(name) != nil {
          throw UsageError("probe: \"\(name)\" is an IPv6 case: probe an [ADDR]:PORT target, or add --ipv6 to --target self")
        }
        throw UsageError("probe: no case \"\(name)\" (see `tcpcraft probe --list`)")
      }
      cases.append(found)
    }
    return cases
  }

  // MARK: - Output

  static func list(json: Bool, ipv6: Bool = false) -> Int32 {
    let catalog = ipv6 ? EdgeCaseCatalog.ipv6 : EdgeCaseCatalog.all
    for edgeCase in catalog {
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
        let layer = edgeCase.layer == .ipv4 ? " (layer 2, IPv4 header as built)" : edgeCase.layer == .ipv6 ? " (layer 2, IPv6 packet as built)" : ""
        Terminal.out("    sends:    \(edgeCase.summary)\(layer)")
        Terminal.out("    state:    \(edgeCase.setup)")
        Terminal.out("    expected: \(edgeCase.expected)")
        Terminal.out("    rule:     \(edgeCase.rfc) [\(edgeCase.requirement.rawValue)] \(edgeCase.rule)")
      }
    }
    if !json { Terminal.out("\(catalog.count) \(ipv6 ? "IPv6 " : "")cases" + (ipv6 ? "" : "; --list --ipv6 lists \(EdgeCaseCatalog.ipv6.count) IPv6 cases")) }
    return 0
  }

  static func pad(_ text: String, _ width: Int) -> String {
    if text.count > width { return String(text.prefix(width - 1)) + "…" }
    return text + String(repeating: " ", count: width - text.count)
  }

  /// `text` in lines of at most `width` characters, broken at spaces; a word longer than a line
  /// is split, never cut.
  static func wrap(_ text: String, _ width: Int) -> [String] {
    let lines = TextWrap.lines(text, width: width, splittingLongWords: true)
    return lines.isEmpty ? [""] : lines  // a table cell keeps its line
  }

  /// Table columns: case, RFC and requirement, expected, observed, verdict; with the single
  /// spaces between them, 100 characters. Every cell wraps, nothing is cut.
  static let columns = [24, 20, 20, 20, 12]

  static func row(_ cells: [String]) -> [String] {
    let wrapped = zip(cells, columns).map { wrap($0, $1) }
    let height = wrapped.map(\.count).max() ?? 1
    return (0..<height).map { index in
      var line = ""
      for (column, cell) in wrapped.enumerated() {
        let text = index < cell.count ? cell[index] : ""
        line += column == wrapped.count - 1 ? text : text + String(repeating: " ", count: columns[column] - text.count) + " "
      }
      return String(line.reversed().drop { $0 == " " }.reversed())
    }
  }

  static func printTable(_ results: [ProbeResult], bytes: Bool, ladder: Bool = false, explain: Bool = false) {
    Terminal.out("")
    for line in row(["CASE", "RFC", "EXPECTED", "OBSERVED", "VERDICT"]) { Terminal.out(line) }
    Terminal.out(String(repeating: "-", count: columns.reduce(columns.count - 1, +)))
    for result in results {
      let edgeCase = result.edgeCase
      let rfc = "\(edgeCase.rfc) [\(edgeCase.requirement.rawValue)]"
      for line in row([edgeCase.name, rfc, edgeCase.expected.description, result.observed, result.verdict.rawValue]) {
        Terminal.out(line)
      }
      for evidence in result.evidence {
        for (index, line) in wrap(evidence, 94).enumerated() { Terminal.out((index == 0 ? "    " : "      ") + line) }
      }
      if ladder || explain {
        let transcript = result.transcript
        let local = "\((transcript.entries.first?.sourceAddress ?? .v4(.any)).bracketed):\(result.sourcePort)"
        let remote = "\((transcript.entries.first?.destinationAddress ?? .v4(.any)).bracketed):\(result.targetPort)"
        if ladder {
          let drawing = Ladder.draw(
            transcript.entries, local: local, remote: remote, ourISS: transcript.initialSendSequence,
            peerIRS: transcript.initialReceiveSequence)
          Terminal.out(indent(drawing))
        }
        if explain {
          for entry in transcript.entries {
            let head = "\(entry.direction == .sent ? "out" : "in ") [\(entry.note ?? "")] \(entry.summary)"
            for (index, line) in wrap(head, 94).enumerated() { Terminal.out((index == 0 ? "    " : "        ") + line) }
            if let text = entry.explanation {
              for line in wrap(text, 90) { Terminal.out("          " + line) }
            }
          }
        }
      }
      if bytes {
        for (index, packet) in result.crafted.enumerated() {
          Terminal.out("    sent \(index + 1): \(tcpdumpSummary(packet[...], linkType: .raw))")
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

  /// One case as JSON: everything needed to judge it again without the tool.
  static func jsonLine(_ result: ProbeResult, bytes: Bool) -> JSONLine {
    let edgeCase = result.edgeCase
    var line = JSONLine()
    line.add("type", "case")
    line.add("case", edgeCase.name)
    line.add("summary", edgeCase.summary)
    line.add("setup", edgeCase.setup.description)
    line.add("rfc", edgeCase.rfc)
    line.add("requirement", edgeCase.requirement.rawValue)
    line.add("rule", edgeCase.rule)
    line.add("expected", edgeCase.expected.description)
    if let drop = edgeCase.allowedDrop { line.add("allowed_drop", "\(drop.reason) (\(drop.rfc))") }
    line.add("observed", result.observed)
    line.add("verdict", result.verdict.rawValue)
    line.add("sport", result.sourcePort)
    line.add("dport", result.targetPort)
    line.add("sent", raw: "[" + result.crafted.map { packet in
      var item = JSONLine()
      item.add("summary", tcpdumpSummary(packet[...], linkType: .raw))
      item.add("hex", hex(packet))
      return item.description
    }.joined(separator: ",") + "]")
    line.add("replies", raw: "[" + result.replies.map { reply in
      var item = JSONLine()
      item.add("summary", reply.summary)
      item.add("hex", hex(reply.bytes))
      return item.description
    }.joined(separator: ",") + "]")
    if let connection = result.connection {
      // Our SND.NXT is what the target's RCV.NXT must be; our RCV.NXT is the target's SND.NXT.
      var numbers = JSONLine()
      numbers.add("snd_nxt", connection.ourNext)
      numbers.add("rcv_nxt", connection.peerNext)
      line.add("judged_against", raw: numbers.description)
    } else {
      line.add("judged_against", raw: "null")
    }
    var counters = JSONLine()
    for (name, rise) in result.counterRises.sorted(by: { $0.key < $1.key }) { counters.add(name, rise) }
    line.add("counters", raw: result.counterScope == nil ? "null" : counters.description)
    line.add("counters_scope", result.counterScope)
    switch result.drops {
    case .recorded(let drops, let scope):
      line.add("drop_reasons", raw: "[" + drops.map { drop in
        var item = JSONLine()
        item.add("reason", drop.reason)
        item.add("function", drop.function)
        item.add("task", drop.task)
        return item.description
      }.joined(separator: ",") + "]")
      line.add("drop_reasons_scope", scope)
    case .unavailable(let why):
      line.add("drop_reasons", raw: "null")
      line.add("drop_reasons_unavailable", "drop reasons unavailable (\(why))")
    }
    var fate = JSONLine()
    switch result.fate {
    case .alive(let text):
      fate.add("state", "alive")
      fate.add("detail", text)
    case .gone(let text):
      fate.add("state", "gone")
      fate.add("detail", text)
    case .unknown(let text):
      fate.add("state", "unknown")
      fate.add("detail", text)
    case .notChecked:
      fate.add("state", "not checked")
    }
    line.add("fate", raw: fate.description)
    var control = JSONLine()
    switch result.control {
    case .passed(let notes):
      control.add("passed", true)
      control.add("notes", strings: notes)
    case .failed(let reason):
      control.add("passed", false)
      control.add("reason", reason)
    case .none:
      control.add("passed", raw: "null")
    }
    line.add("control", raw: control.description)
    line.add("evidence", strings: result.evidence)
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

  /// `--svg FILE`: each case's transcript drawn as the exchange commands draw theirs; one case
  /// writes FILE, several write FILE-CASE.svg (FILE without its `.svg`), one a case.
  static func writeSVG(_ results: [ProbeResult], to path: String) -> Bool {
    let stem = path.hasSuffix(".svg") ? String(path.dropLast(4)) : path
    for result in results {
      let transcript = result.transcript
      let local = "\((transcript.entries.first?.sourceAddress ?? .v4(.any)).bracketed):\(result.sourcePort)"
      let remote = "\((transcript.entries.first?.destinationAddress ?? .v4(.any)).bracketed):\(result.targetPort)"
      let svg = SVGLadder.render(
        transcript.entries, local: local, remote: remote, ourISS: transcript.initialSendSequence,
        peerIRS: transcript.initialReceiveSequence,
        page: .init(
          title: "tcpcraft probe: \(result.edgeCase.name) (\(result.verdict.rawValue))",
          source: CommandLine.arguments.map(Output.shellQuoted).joined(separator: " ")))
      let file = results.count == 1 ? path : "\(stem)-\(result.edgeCase.name).svg"
      if let problem = SafeWrite.write(Array(svg.utf8), to: file) {
        Terminal.error("tcpcraft: cannot write \(file): \(problem)")
        return false
      }
    }
    return true
  }

  static func absolute(_ path: String) -> String { Common.absolute(path) }

  /// The backlog of the IPv4 listener on local `port` (inet_diag's `idiag_wqueue` for a LISTEN
  /// socket), or `nil` when none is seen.
  static func listenerBacklog(port: UInt16) -> Int? {
    guard let diag = try? InetDiag(),
      let listener = try? diag.sockets(localPort: port, states: KernelTCPState.listen.maskBit).first(where: { $0.state == .listen })
    else { return nil }
    return Int(listener.sendQueue)
  }

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
    var destination = Endpoint(address: .loopback, port: 8080)
    if let text = arguments.positionals.first {
      do throws(UsageError) {
        let target = try HostPort.parse(text, defaultHost: .loopback)
        destination = Endpoint(address: target.address, port: target.port)
      } catch {
        Terminal.error("tcpcraft: \(error.description)")
        return 2
      }
    }
    let source = Endpoint(address: runner?.sourceAddress ?? .loopback, port: 40000)
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
      let interactive = FileDescriptor.standardError.isTerminal
      for (index, segment) in segments.enumerated() {
        let line = "[\(index + 1)/\(segments.count)] \(segment.label)"
        if interactive { try? FileDescriptor.standardError.writeAll(Array(("\r\u{1B}[2K" + line).utf8)) } else { Terminal.error(line) }
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
      if interactive { try? FileDescriptor.standardError.writeAll(Array("\r\u{1B}[2K".utf8)) }
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

/// `probe --target self`: a network namespace of our own with a plain Linux listener behind a
/// veth pair, probed at layer 2 from an address no interface owns (no RST guard needed, kernel
/// fact 7), then removed.
///
/// The namespace is named (`ip netns add`) only for the few milliseconds `ip` needs to set it up;
/// then we hold it by a file descriptor and delete the name. From then on nothing but this process
/// keeps it alive: when the process ends, even by SIGKILL, the kernel removes the namespace and
/// its veth pair. Stale names a killed run left in those milliseconds are removed at the next start
/// (only names of our pattern whose process is gone).
final class SelfTarget {
  static let prefix = "tcpcraft-self-"
  private(set) var namespaceFile = ""
  let hostInterface: String
  let hostMAC = MACAddress(0x02, 0x74, 0x63, 0x73, 0, 0x01)
  let namespaceMAC = MACAddress(0x02, 0x74, 0x63, 0x73, 0, 0x02)
  let targetAddress: IPv4Address
  let sourceAddress: IPv4Address
  let port: UInt16 = 8080
  /// With `ipv6`: the namespace's IPv6 address (a listener on it too) and our unowned source.
  private(set) var targetAddress6: IPv6Address?
  private(set) var sourceAddress6: IPv6Address?
  private var namespaceFD: Int32 = -1
  private var listener: Int32 = -1
  private var listener6: Int32 = -1

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  init(ipv6: Bool = false) throws(Failure) {
    let pid = Int(getpid())
    let name = Self.prefix + String(pid)
    hostInterface = "tcs\(pid % 10_000_000)h"
    let namespaceInterface = "tcs\(pid % 10_000_000)n"
    let third = UInt32(pid % 250)
    targetAddress = IPv4Address(rawValue: 0x0AD6_0000 | third << 8 | 2)  // 10.214.N.2
    sourceAddress = IPv4Address(rawValue: 0x0AD6_0000 | third << 8 | 99)
    let target = targetAddress.description
    let source = sourceAddress.description
    let mac = { (address: MACAddress) in address.description }
    Self.removeStale()
    var steps: [[String]] = [
      ["ip", "netns", "add", name],
      ["ip", "link", "add", hostInterface, "address", mac(hostMAC), "type", "veth", "peer", "name", namespaceInterface,
       "address", mac(namespaceMAC), "netns", name],
      ["sysctl", "-qw", "net.ipv4.conf.\(hostInterface).forwarding=0"],
      ["ip", "link", "set", hostInterface, "up"],
      ["ip", "-n", name, "link", "set", "lo", "up"],
      ["ip", "-n", name, "addr", "add", "\(target)/24", "dev", namespaceInterface],
      ["ip", "-n", name, "link", "set", namespaceInterface, "up"],
      ["ip", "-n", name, "neigh", "replace", source, "lladdr", mac(hostMAC), "dev", namespaceInterface, "nud", "permanent"],
    ]
    if ipv6 {
      // A unique local prefix of ours (RFC 4193), the pid in it; `nodad`, so the address is usable
      // at once (kernel fact 15); the same neighbour entry as for IPv4 (kernel fact 7).
      let prefix = "fd74:6373:" + String(pid % 65_536, radix: 16) + "::"
      targetAddress6 = IPv6Address(prefix + "2")
      sourceAddress6 = IPv6Address(prefix + "99")
      steps += [
        ["ip", "-n", name, "addr", "add", prefix + "2/64", "dev", namespaceInterface, "nodad"],
        ["ip", "-n", name, "-6", "neigh", "replace", prefix + "99", "lladdr", mac(hostMAC), "dev", namespaceInterface,
         "nud", "permanent"],
      ]
    }
    var file = ""
    do throws(Failure) {
      for step in steps {
        if let problem = Self.command(step) { throw Failure(description: "setting up --target self: `\(step.joined(separator: " "))`: \(problem)") }
      }
      namespaceFD = (try? FileDescriptor.openForReading(path: "/var/run/netns/" + name).rawValue) ?? -1
      guard namespaceFD >= 0 else { throw Failure(description: "setting up --target self: cannot open the namespace \(name)") }
      file = "/proc/self/fd/\(namespaceFD)"
      let port = self.port
      let fd = try? NetworkNamespace.run(inNamespaceAt: file) { () -> Int32 in Self.listen(address: targetAddress, port: port) }
      guard let fd, fd >= 0 else { throw Failure(description: "setting up --target self: no listener in the namespace") }
      listener = fd
      if let address = targetAddress6 {
        let fd6 = try? NetworkNamespace.run(inNamespaceAt: file) { () -> Int32 in Self.listen6(address: address, port: port) }
        guard let fd6, fd6 >= 0 else { throw Failure(description: "setting up --target self: no IPv6 listener in the namespace") }
        listener6 = fd6
      }
    } catch {
      _ = Self.command(["ip", "netns", "delete", name])
      if namespaceFD >= 0 { try? FileDescriptor(rawValue: namespaceFD).close() }
      throw error
    }
    namespaceFile = file
    // Held by our descriptor from here on: the name can go.
    _ = Self.command(["ip", "netns", "delete", name])
  }

  /// A listener that never accepts (the kernel completes handshakes and queues them) with a small
  /// receive buffer, so that a window can be filled; a backlog of 1024.
  private static func listen(address: IPv4Address, port: UInt16) -> Int32 {
    var local = sockaddr_in()
    local.sin_family = sa_family_t(AF_INET)
    local.sin_port = port.bigEndian
    local.sin_addr.s_addr = address.rawValue.bigEndian
    return listen(family: AF_INET, local: local)
  }

  /// The same listener on an IPv6 address.
  private static func listen6(address: IPv6Address, port: UInt16) -> Int32 {
    var local = sockaddr_in6()
    local.sin6_family = sa_family_t(AF_INET6)
    local.sin6_port = port.bigEndian
    withUnsafeMutableBytes(of: &local.sin6_addr) { raw in
      for (index, byte) in address.octets.enumerated() where index < raw.count { raw[index] = byte }
    }
    return listen(family: AF_INET6, local: local)
  }

  /// The listener of either family bound to `local` (a `sockaddr_in` or `sockaddr_in6`); -1 on failure.
  private static func listen<Address>(family: Int32, local: Address) -> Int32 {
    guard let socket = try? SocketDescriptor.open(domain: family, type: CInt(SOCK_STREAM.rawValue), protocol: 0) else {
      return -1
    }
    try? socket.setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: Int32(1))
    try? socket.setOption(level: SOL_SOCKET, name: SO_RCVBUF, value: Int32(2048))
    var local = local
    let bound = withUnsafeBytes(of: &local) { bytes in Result { () throws(Errno) in try socket.bind(address: bytes) } }
    guard case .success = bound, (try? socket.listen(backlog: 1024)) != nil else {
      try? socket.close()
      return -1
    }
    return socket.rawValue
  }

  /// Removes the namespace and its veth pair now (the kernel would at exit anyway).
  func close() {
    if listener6 >= 0 {
      try? FileDescriptor(rawValue: listener6).close()
      listener6 = -1
    }
    if listener >= 0 {
      try? FileDescriptor(rawValue: listener).close()
      listener = -1
    }
    _ = Self.command(["ip", "link", "del", hostInterface])
    if namespaceFD >= 0 {
      try? FileDescriptor(rawValue: namespaceFD).close()
      namespaceFD = -1
    }
  }

  deinit { close() }

  /// Names of our pattern whose process is gone (a run killed while its namespace had a name).
  private static func removeStale() {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/var/run/netns") else { return }
    for name in names where name.hasPrefix(prefix) {
      guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0 else { continue }
      if ProcessHandle.isGone(pid: pid) { _ = command(["ip", "netns", "delete", name]) }
    }
  }

  /// Runs a command (from PATH's usual places), bounded to 10 s; `nil` on success, else why not.
  private static func command(_ arguments: [String]) -> String? {
    guard let tool = arguments.first else { return "nothing to run" }
    let places = ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"]
    guard let path = places.map({ $0 + tool }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      return "\(tool) not found (install iproute2)"
    }
    // Spawned through RawSocket's seam (posix_spawn, poll, read, kill, waitpid); every word quoted
    // for the shell, though each is a name or an address of ours.
    let quoted = ([path] + arguments.dropFirst()).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let outcome: ScriptShell.Outcome
    do {
      outcome = try ScriptShell.shell(
        quoted.joined(separator: " "), directory: "/", environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        timeoutMilliseconds: 10_000)
    } catch {
      return "\(error)"
    }
    if outcome.timedOut { return "timed out" }
    if outcome.status == 0 { return nil }
    return outcome.output.split(separator: "\n").first.map(String.init) ?? "exit status \(outcome.status)"
  }
}
