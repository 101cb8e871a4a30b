import Foundation
import PacketKit
import Synchronization
import RawSocket
import TCPScript

/// `tcpcraft run SCRIPT|DIR ...`: packetdrill-language scripts, each in a network namespace of its own.
enum RunCommand: Command {
  static let spec = CommandSpec(
    name: "run",
    summary: "packetdrill-language scripts, each in a network namespace of its own",
    synopsis: ["SCRIPT|DIR ... [--ip-version ipv4|ipv6|ipv4-mapped-ipv6] [-D NAME=VALUE] [--tolerance-usecs N] [--parallel N] [--pcap FILE|DIR] [--svg FILE] [--pcapng FILE] [--json] [--verbose] [--explain]"],
    about: """
      Plays packetdrill-language scripts against the kernel's own TCP, each script in a fresh,
      anonymous network namespace that tcpcraft makes and that vanishes with the run (even on
      SIGKILL): a tun device tun0 with 192.168.0.1/16 (the kernel under test) and the script's
      remote end 192.0.2.1 (packetdrill's run_all.py addresses). `<` lines (TCP, UDP, ICMP) are
      injected, `>` lines are captured and matched field by field, system calls run on real sockets
      in that namespace, backtick lines run with /bin/sh there (cwd: the script's folder; a /tmp of
      the script's own), %{ }% blocks with python3 (no python3: NOT RUN). A folder runs every *.pkt under it (NAME-v6.pkt left out in ipv4,
      as run_all.py -4 does): one line per script (PASS / FAIL / NOT RUN and why), then totals.
      Defines from run_all.py are the defaults (ipv4: TFO_COOKIE=3021b9d889017eeb
      CODE=host_unreachable CMSG_LEVEL_IP=SOL_IP CMSG_TYPE_RECVERR=IP_RECVERR); -D replaces them.
      See docs/scripts.md for the language.

      --ip-version runs the same scripts as packetdrill's three modes (run_all.py -4, -6,
      --ipv4mappedv6), with its addresses and defines:
        ipv4              AF_INET sockets; IPv4 on the wire (the default, unless a script says
                          --ip_version=)
        ipv6              AF_INET6 sockets; IPv6 on the wire: the kernel is fd3d:a0b:17d6::1/48,
                          the remote end fd3d:fa7b:d17d::1 (via fd3d:a0b:17d6:8888::1), MTU 1520;
                          ICMP lines are ICMPv6 (packet_too_big mtu N...); TFO_COOKIE=c1d1e9742a47a9bc
                          CMSG_LEVEL_IP=SOL_IPV6 CMSG_TYPE_RECVERR=IPV6_RECVERR, no CODE;
                          folders skip NAME-v4.pkt and include NAME-v6.pkt
        ipv4-mapped-ipv6  AF_INET6 sockets bound and connected to ::ffff:192.168.0.1 and
                          ::ffff:192.0.2.1; IPv4 on the wire; CMSG_* as ipv6
      socket(..., ...) takes the mode's domain and bind/connect `...` its addresses, so one script
      runs in all three; a sockaddr literal's inet_addr("192.168.0.1") names the mode's local end.

      Exit status: 0 every script passed; 1 a script failed or was not run; 2 bad usage, or a
      script that does not parse (file:line:column: what was expected).
      """,
    options: [
      OptionGroup([
        .repeatable("-D", "NAME=VALUE", "a define, replacing NAME in the scripts (repeatable)"),
        .integer("--tolerance-usecs", aliases: ["--tolerance_usecs"], UInt64.self, range: 1...60_000_000, "N",
          "how far from its script time an event may happen (default 4000, as packetdrill; or 12.5% of the gap when larger)"),
        .integer("--parallel", UInt64.self, range: 1...64, "N", "scripts at a time for folders (default 1)"),
        .string("--pcap", "FILE|DIR", "each script's packets (LINKTYPE_IPV4; LINKTYPE_RAW for IPv6); a folder gets NAME.pcap each"),
        .string("--svg", "FILE", "one script's TCP segments as an SVG ladder (seen from the script's side; to project or print)"),
        .string("--pcapng", "FILE", "one script's TCP segments as pcapng, each with its explanation and states as a comment"),
        .toggle("--json", "one JSON object per script (status, failing line, both packets)"),
        .toggle("--verbose", "every packet and call as it happens"),
        .toggle("--explain", "say how script numbers map onto the wire"),
        .string("--ip-version", "ipv4|ipv6|ipv4-mapped-ipv6", "packetdrill's three modes (default ipv4, or the script's --ip_version=)"),
      ])
    ],
    examples: [
      "sudo tcpcraft run examples/scripts/handshake.pkt",
      "sudo tcpcraft run examples/scripts --parallel 2",
      "sudo tcpcraft run gtests/net/tcp --parallel 2 --json > results.jsonl",
      "sudo tcpcraft run examples/scripts/mss.pkt --verbose --pcap /tmp/mss.pcap",
      "sudo tcpcraft run examples/scripts --ip-version ipv6",
      "sudo tcpcraft run gtests/net/tcp --ip-version ipv4-mapped-ipv6 --parallel 2",
      "sudo tcpcraft run examples/scripts/close.pkt --svg close.svg --pcapng close.pcapng",
    ])

  static let packetdrillDefines: [String: String] = ScriptIPVersion.ipv4.packetdrillDefines

  struct Settings {
    /// The user's -D defines (over the mode's run_all.py ones).
    var defines: [String: String] = [:]
    /// `--ip-version`; nil: each script's own --ip_version=, else ipv4.
    var ipVersion: ScriptIPVersion?
    var tolerance: Int64?
    var parallel = 1
    var pcap: String?
    var json = false
    var verbose = false
    var explain = false
    var svg: String?
    var pcapng: String?
  }

  static func run(_ arguments: Arguments) -> Int32 {
    var settings = Settings()
    do throws(UsageError) {
      guard !arguments.positionals.isEmpty else {
        throw UsageError("run: give a script or a folder of *.pkt scripts (see `tcpcraft run --help`)")
      }
      if let version = arguments.value("--ip-version") {
        guard let mode = ScriptIPVersion(rawValue: version) else {
          throw UsageError("run: --ip-version must be ipv4, ipv6 or ipv4-mapped-ipv6, not \"\(version)\"")
        }
        settings.ipVersion = mode
      }
      for define in arguments.all("-D") {
        guard let equals = define.firstIndex(of: "="), equals != define.startIndex else {
          throw UsageError("run: -D needs NAME=VALUE, not \"\(define)\"")
        }
        settings.defines[String(define[..<equals])] = String(define[define.index(after: equals)...])
      }
      if let value = arguments.integer("--tolerance-usecs", as: UInt64.self) { settings.tolerance = Int64(value) }
      if let value = arguments.integer("--parallel", as: UInt64.self) { settings.parallel = Int(value) }
      settings.pcap = arguments.value("--pcap")
      settings.json = arguments.has("--json")
      settings.verbose = arguments.has("--verbose")
      settings.explain = arguments.has("--explain")
      settings.svg = arguments.value("--svg")
      settings.pcapng = arguments.value("--pcapng")
      if settings.svg != nil || settings.pcapng != nil {
        var isDirectory: ObjCBool = false
        let first = arguments.positionals.first ?? ""
        if arguments.positionals.count > 1 || (FileManager.default.fileExists(atPath: first, isDirectory: &isDirectory) && isDirectory.boolValue) {
          throw UsageError("run: --svg and --pcapng draw one script; give one script, not \(arguments.positionals.count > 1 ? "several" : "a folder")")
        }
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }

    // A normal user (no sudo): the scripts' namespaces are made inside a private user + network
    // namespace of our own, where we hold CAP_SYS_ADMIN and CAP_NET_ADMIN (kernel fact 13).
    // Before any thread starts: unshare needs a single-threaded process.
    if SafeFile.realUser != 0 && !UserNamespace.isInsideUserNamespace {
      do throws(UserNamespace.EntryError) {
        try UserNamespace.enter()
      } catch {
        Terminal.error(error.advice())
        return 1
      }
    }

    // The scripts: files as given, folders walked for *.pkt (symbolic links are not followed).
    var scripts: [String] = []
    var folderRun = arguments.positionals.count > 1
    for target in arguments.positionals {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) else {
        Terminal.error("tcpcraft: run: no such file or folder: \(target)")
        return 2
      }
      if isDirectory.boolValue {
        folderRun = true
        scripts += findScripts(in: target, version: settings.ipVersion ?? .ipv4)
      } else {
        scripts.append(target)
      }
    }
    guard !scripts.isEmpty else {
      Terminal.error("tcpcraft: run: no *.pkt scripts under \(arguments.positionals.joined(separator: " "))")
      return 2
    }

    // Parse everything first: a single script's parse error is a usage error (exit 2).
    var parsed: [(path: String, script: Script?, error: ScriptParseError?, readError: String?)] = []
    for path in scripts {
      guard let data = FileManager.default.contents(atPath: path) else {
        parsed.append((path, nil, nil, "cannot read \(path)"))
        continue
      }
      let text = String(decoding: data, as: UTF8.self)
      do throws(ScriptParseError) {
        // The mode's run_all.py defines, then the user's. A script that picks its own mode
        // (--ip_version=, no --ip-version given) is read again with that mode's defines.
        let mode = settings.ipVersion ?? .ipv4
        var script = try ScriptParser.parse(
          text, file: path, defines: mode.packetdrillDefines.merging(settings.defines) { $1 }, ipVersion: settings.ipVersion)
        if script.ipVersion != mode {
          script = try ScriptParser.parse(
            text, file: path, defines: script.ipVersion.packetdrillDefines.merging(settings.defines) { $1 },
            ipVersion: script.ipVersion)
        }
        parsed.append((path, script, nil, nil))
      } catch {
        parsed.append((path, nil, error, nil))
      }
    }
    if !folderRun, let only = parsed.first, only.script == nil {
      if let error = only.error {
        Terminal.error("\(error.location): \(error.message)")
        if settings.json { Terminal.out(json(parseError: error, path: only.path)) }
      } else {
        Terminal.error("tcpcraft: run: \(only.readError ?? "cannot read \(only.path)")")
      }
      return 2
    }

    var options = ScriptRunOptions()
    options.processIdentifier = getpid()
    options.ipVersion = settings.ipVersion
    if let tolerance = settings.tolerance { options.toleranceMicroseconds = tolerance }
    options.python = findPython(path: options.path)
    // Pictures show the kernel's state on each row: read after each segment (one script only).
    options.samplesKernelState = settings.svg != nil || settings.pcapng != nil
    if settings.verbose, !folderRun, !settings.json {
      options.onEntry = { entry in Terminal.out(line(entry)) }
    }
    if settings.explain, !settings.json {
      Terminal.out(
        "how to read this (packetdrill's rules): a SYN's sequence number is written absolute (it is that side's ISN); every "
          + "other sequence number counts from the sender's ISN, every ack from the other side's. The kernel's ISN is learned "
          + "from its SYN or SYN+ACK. Times are seconds since the script began; "
          + "an outbound packet must come within the tolerance of its script time.")
    }

    // Run, `--parallel` at a time.
    let results = Mutex<[Int: ScriptResult]>([:])
    let next = Mutex(0)
    let total = parsed.count
    let workers = min(settings.parallel, total)
    let group = DispatchGroup()
    let shared = parsed.map { ($0.path, $0.script, $0.error, $0.readError) }
    let runOptions = options
    let showProgress = folderRun
    for _ in 0..<workers {
      group.enter()
      let thread = Thread {
        while true {
          let index: Int = next.withLock { value in
            defer { value += 1 }
            return value
          }
          guard index < total else { break }
          let (path, script, parseError, readError) = shared[index]
          var result: ScriptResult
          if let script {
            let directory = (path as NSString).deletingLastPathComponent
            result = ScriptRunner.run(script, directory: directory.isEmpty ? "." : directory, options: runOptions)
          } else {
            let reason = parseError.map { "parse error: \($0)" } ?? readError ?? "cannot read"
            result = ScriptResult(path: path, status: .failed, reason: reason, failure: nil, transcript: [], duration: 0)
          }
          results.withLock { $0[index] = result }
          if showProgress {
            Terminal.error("[\(results.withLock { $0.count })/\(total)] \(result.status.rawValue) \(path)")
          }
        }
        group.leave()
      }
      thread.stackSize = 4 << 20
      thread.start()
    }
    group.wait()

    let ordered = (0..<total).compactMap { index in results.withLock { $0[index] } }
    var passed = 0, failed = 0, notRun = 0, unwritten = 0
    for (index, result) in ordered.enumerated() {
      switch result.status {
      case .passed: passed += 1
      case .failed: failed += 1
      case .notRun: notRun += 1
      }
      if let pcap = settings.pcap, !writePcap(result, to: pcap, many: total > 1, index: index) { unwritten += 1 }
      if !writePictures(result, settings: settings) { unwritten += 1 }
      if settings.json {
        Terminal.out(json(result))
      } else if folderRun {
        Terminal.out(summaryLine(result))
      } else {
        report(result, verbose: settings.verbose)
      }
    }
    if folderRun, !settings.json {
      let seconds = Double(ordered.map(\.duration).max() ?? 0) / 1e6
      Terminal.out(
        "\(total) scripts: \(passed) passed, \(failed) failed, \(notRun) not run"
          + String(format: " (longest %.2f s)", seconds))
    }
    // A --pcap that could not be written fails the run, as every command's output files do.
    return passed == total && unwritten == 0 ? 0 : 1
  }

  // MARK: - Finding things

  static func findScripts(in folder: String, version: ScriptIPVersion = .ipv4) -> [String] {
    let root = URL(fileURLWithPath: folder)
    guard let walker = FileManager.default.enumerator(
      at: root, includingPropertiesForKeys: [.isSymbolicLinkKey, .isRegularFileKey], options: [])
    else { return [] }
    var found: [String] = []
    for case let url as URL in walker {
      let values = try? url.resourceValues(forKeys: [.isSymbolicLinkKey, .isRegularFileKey])
      if values?.isSymbolicLink == true {
        walker.skipDescendants()
        continue
      }
      guard values?.isRegularFile == true, url.pathExtension == "pkt" else { continue }
      // As packetdrill's run_all.py: IPv6-only scripts (NAME-v6.pkt) only in ipv6 runs, IPv4-only
      // ones (NAME-v4.pkt) never in them.
      if !version.includes(fileNamed: url.lastPathComponent) { continue }
      var relative = url.path
      if relative.hasPrefix(root.path + "/") { relative = String(relative.dropFirst(root.path.count + 1)) }
      found.append((folder.hasSuffix("/") ? folder : folder + "/") + relative)
    }
    return found.sorted()
  }

  static func findPython(path: String) -> String? {
    for folder in path.split(separator: ":") {
      let candidate = "\(folder)/python3"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    if let home = ProcessInfo.processInfo.environment["PATH"] {
      for folder in home.split(separator: ":") {
        let candidate = "\(folder)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      }
    }
    return nil
  }

  // MARK: - Output

  static func line(_ entry: ScriptTranscriptEntry) -> String {
    let time = String(format: "%8.6f", Double(entry.time) / 1e6)
    switch entry.kind {
    case .inbound: return "\(time) < \(entry.text)   (line \(entry.line))"
    case .outbound: return "\(time) > \(entry.text)   (line \(entry.line))"
    case .call: return "\(time)   \(entry.text)   (line \(entry.line))"
    case .command: return "\(time)   \(entry.text)   (line \(entry.line))"
    }
  }

  static func summaryLine(_ result: ScriptResult) -> String {
    let seconds = String(format: "%.2fs", Double(result.duration) / 1e6)
    var text = "\(result.status.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(result.path) (\(seconds))"
    if let reason = result.reason { text += ": " + reason }
    return text
  }

  static func report(_ result: ScriptResult, verbose: Bool) {
    let seconds = String(format: "%.2f s", Double(result.duration) / 1e6)
    switch result.status {
    case .passed:
      Terminal.out("PASS \(result.path) (\(seconds))")
    case .notRun:
      Terminal.out("NOT RUN \(result.path): \(result.reason ?? "")")
    case .failed:
      Terminal.out("FAIL \(result.path) (\(seconds))")
      guard let failure = result.failure else {
        Terminal.out(result.reason ?? "")
        return
      }
      Terminal.out("\(failure.location.file):\(failure.location.line): \(failure.message)")
      Terminal.out("  script:   \(failure.lineText)")
      if let expected = failure.expected { Terminal.out("  expected: \(expected)") }
      if let actual = failure.actual { Terminal.out("  actual:   \(actual)") }
      if let error = failure.timeError {
        Terminal.out(String(format: "  time error: %+.6f s", Double(error) / 1e6))
      }
      if !failure.kernelSockets.isEmpty {
        Terminal.out("  kernel sockets (inet_diag):")
        for socket in failure.kernelSockets { Terminal.out("    " + socket) }
      }
      if !verbose, !result.transcript.isEmpty {
        Terminal.out("  the exchange so far:")
        for entry in result.transcript.suffix(40) { Terminal.out("    " + line(entry)) }
      }
    }
  }

  static func json(_ result: ScriptResult) -> String {
    var object = JSONLine()
    object.add("script", result.path)
    object.add("status", result.status.rawValue)
    object.add("reason", result.reason)
    object.add("duration_ms", Double(result.duration) / 1000)
    if let failure = result.failure {
      object.add("line", failure.location.line)
      object.add("script_line", failure.lineText)
      object.add("message", failure.message)
      object.add("expected", failure.expected)
      object.add("actual", failure.actual)
      if let error = failure.timeError { object.add("time_error_us", error) }
      object.add("kernel_sockets", strings: failure.kernelSockets)
    }
    object.add("packets", result.transcript.filter { $0.packet != nil }.count)
    return object.description
  }

  static func json(parseError: ScriptParseError, path: String) -> String {
    var object = JSONLine()
    object.add("script", path)
    object.add("status", "FAIL")
    object.add("reason", "parse error")
    object.add("line", parseError.location.line)
    object.add("column", parseError.location.column)
    object.add("message", parseError.message)
    return object.description
  }

  /// `--svg` and `--pcapng` for a single script: its TCP segments as a Flow transcript, drawn and
  /// commented as the exchange commands draw theirs; `false` (one line on stderr) when refused.
  static func writePictures(_ result: ScriptResult, settings: Settings) -> Bool {
    guard settings.svg != nil || settings.pcapng != nil else { return true }
    let transcript = result.flowTranscript
    var written = true
    if let path = settings.svg {
      // Our side is the script's remote end: the first segment's sender when it is ours.
      let first = transcript.entries.first
      let ours = first.map { $0.direction == .sent ? "\($0.sourceAddress.bracketed):\($0.sourcePort)" : "\($0.destinationAddress.bracketed):\($0.destinationPort)" }
      let theirs = first.map { $0.direction == .sent ? "\($0.destinationAddress.bracketed):\($0.destinationPort)" : "\($0.sourceAddress.bracketed):\($0.sourcePort)" }
      let local = ours ?? "the script"
      let remote = theirs ?? "the kernel under test"
      let status = result.status.rawValue + (result.failure.map { ": line \($0.location.line): \($0.message)" } ?? result.reason.map { ": \($0)" } ?? "")
      let svg = SVGLadder.render(
        transcript.entries, local: local, remote: remote, ourISS: transcript.initialSendSequence,
        peerIRS: transcript.initialReceiveSequence,
        page: .init(
          title: "tcpcraft run \(result.path) (\(status))",
          source: CommandLine.arguments.map(Output.shellQuoted).joined(separator: " ")
            + " — we are the script's remote end; the peer is the kernel under test"))
      if let problem = SafeWrite.write(Array(svg.utf8), to: path) {
        Terminal.error("tcpcraft: run: cannot write \(path): \(problem)")
        written = false
      }
    }
    if let path = settings.pcapng, let problem = SafeWrite.write(Teaching.pcapng(transcript), to: path) {
      Terminal.error("tcpcraft: run: cannot write \(path): \(problem)")
      written = false
    }
    return written
  }

  /// Writes one script's packets; `false` (with one line on stderr) when the file was refused.
  static func writePcap(_ result: ScriptResult, to target: String, many: Bool, index: Int) -> Bool {
    var destination = target
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
      let name = (result.path as NSString).lastPathComponent
      destination = (target as NSString).appendingPathComponent((name as NSString).deletingPathExtension + ".pcap")
    } else if many {
      destination = target + ".\(index)"
    }
    // IPv6 packets (ipv6 mode) go in a raw-IP file (LINKTYPE_RAW: IPv4 or IPv6 by the version).
    let hasIPv6 = result.transcript.contains { $0.packet?.first.map { $0 >> 4 } == 6 }
    let writer = PcapWriter(linkType: hasIPv6 ? .raw : .ipv4)
    var bytes: [UInt8] = []
    writer.appendFileHeader(to: &bytes)
    for entry in result.transcript {
      guard let packet = entry.packet else { continue }
      writer.appendRecord(
        packet, timestampSeconds: UInt32(truncatingIfNeeded: entry.time / 1_000_000),
        timestampNanoseconds: UInt32(truncatingIfNeeded: (entry.time % 1_000_000) * 1000), to: &bytes)
    }
    // Never through a planted link, never over a file that is not ours (SafeFile's rules).
    if let problem = SafeWrite.write(bytes, to: destination) {
      Terminal.error("tcpcraft: run: cannot write \(destination): \(problem)")
      return false
    }
    return true
  }
}
