import RawSocket
import TCPScript

/// How a command shows an exchange: human lines (tcpdump-style, state beside each segment,
/// optional explanations, a ladder at the end) or `--json` lines.
struct Output {
  var json = false
  var explain = false
  var relative = false
  var ladder = true
  var quiet = false
  var rfcNames = false
  /// `--svg FILE`: the ladder as a picture; `--pcapng FILE`: the capture with a comment a packet.
  var svgPath: String?
  var pcapngPath: String?
  /// Known before any segment (a saved session's handshake found it): no kernel socket owns the
  /// peer's end, so its samples' CLOSED means "not a kernel socket", not a closed peer.
  var peerWithoutKernelSocket = false
  /// The command line, printed on the SVG page.
  var source = CommandLine.arguments.map(Output.shellQuoted).joined(separator: " ")

  /// Reads the output switches every exchange command shares.
  init(_ arguments: Arguments) {
    json = arguments.has("--json")
    explain = arguments.has("--explain")
    relative = arguments.has("--relative")
    ladder = !arguments.has("--no-ladder")
    quiet = arguments.has("--quiet")
    rfcNames = arguments.has("--rfc-names")
    svgPath = arguments.value("--svg")
    pcapngPath = arguments.value("--pcapng")
  }

  init() {}

  /// Prints a line on stdout (human mode only).
  func say(_ text: String) {
    guard !json, !quiet else { return }
    Terminal.out(text)
  }

  /// One segment: `out IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], ...   CLOSED → SYN-SENT | peer LISTEN`.
  func segment(_ entry: TranscriptEntry, transcript: Transcript) {
    if json {
      Terminal.out(entry.json(relativeTo: transcript.initialSendSequence, peerIRS: transcript.initialReceiveSequence).description)
      return
    }
    if quiet { return }
    let summary =
      relative
      ? entry.relativeSummary(ourISS: transcript.initialSendSequence, peerIRS: transcript.initialReceiveSequence)
      : entry.summary
    let direction = entry.direction == .sent ? "out" : "in "
    if relative && transcript.entries.first == entry {
      Terminal.out("(--relative: seq and ack are counted from each side's initial sequence number, as tcpdump prints them without -S; the SYNs keep theirs)")
    }
    // The time is the segment's own timestamp (the one written to --pcap/--pcapng) counted
    // from the first segment's, so the printed times and the capture's agree.
    let first = transcript.entries.first ?? entry
    var line = "\(Teaching.time(entry, since: first)) \(direction) \(summary)"
    if let mark = Teaching.checksumMark(entry) { line += "  \(mark)" }
    var beside = "  [\(entry.stateChange(rfcNames: rfcNames))"
    if entry.peerState != nil && (peerWithoutKernelSocket || PeerStates.noKernelSocket(transcript.entries)) {
      beside += " | peer: no kernel socket here"
    } else if entry.peerState != nil, case let live = PeerStates.live(transcript.entries), let peer = live.state {
      // The peer's state as this segment leaves it; its kernel may already be further on.
      let before = live.before.map { $0 == peer ? "" : "\($0) → " } ?? ""
      beside += " | peer \(before)\(peer)"
      // "Already" only when the kernel moved on; a sample still at the state before this row
      // (a segment it dropped, like a lone fragment or a SYN+FIN, or one undone at once by a
      // reset) is shown as what it is, not as a step ahead.
      if let ahead = live.kernelAhead {
        beside += ahead == live.before ? " (its kernel sampled: \(ahead))" : " (its kernel already \(ahead))"
      }
      if let timer = PeerStates.timeWaitNote(entry) { beside += " (\(timer))" }
    } else if transcript.entries.first == entry, let reason = PeerStates(transcript.entries).unknownReason {
      beside += " | \(reason)"
    }
    beside += "]"
    line += beside
    if let note = entry.note { line += "  (\(note))" }
    Terminal.out(line)
    if explain, let explanation = Teaching.fullExplanation(entry, in: transcript) {
      Terminal.out("            ↳ \(explanation)")
    }
  }

  /// Writes `--svg` and `--pcapng` for `flow` (whatever the other switches say); a file that
  /// cannot be written is reported on stderr and makes the command fail.
  @discardableResult
  func writeFiles(_ flow: Flow) -> Bool {
    var ok = true
    if let svgPath {
      let svg = SVGLadder.render(
        flow.transcript.entries, local: flow.local.description, remote: flow.remote.description,
        ourISS: flow.transcript.initialSendSequence, peerIRS: flow.transcript.initialReceiveSequence,
        page: .init(title: Teaching.title(local: flow.local.description, remote: flow.remote.description), source: source, relative: relative))
      if let problem = SafeWrite.write(Array(svg.utf8), to: svgPath) {
        Terminal.error("tcpcraft: cannot write \(svgPath): \(problem)")
        ok = false
      }
    }
    if let pcapngPath {
      if let problem = SafeWrite.write(Teaching.pcapng(flow.transcript), to: pcapngPath) {
        Terminal.error("tcpcraft: cannot write \(pcapngPath): \(problem)")
        ok = false
      }
    }
    return ok
  }

  /// The ladder diagram of a whole exchange (human mode).
  func drawLadder(_ flow: Flow) {
    writeFiles(flow)
    guard !json, !quiet, ladder, !flow.transcript.entries.isEmpty else { return }
    Terminal.out("")
    Terminal.out(
      Ladder.draw(
        flow.transcript.entries, local: flow.local.description, remote: flow.remote.description,
        ourISS: relative ? flow.transcript.initialSendSequence : nil,
        peerIRS: relative ? flow.transcript.initialReceiveSequence : nil))
  }

  /// The final result: a JSON object, or (human mode) the last line.
  func result(ok: Bool, command: String, flow: Flow?, message: String, extra: [(String, String)] = []) {
    if json {
      var line = JSONLine()
      line.add("type", "result")
      line.add("command", command)
      line.add("ok", ok)
      line.add("exit", ok ? 0 : 1)
      line.add("message", message)
      if let flow {
        line.add("local", flow.local.description)
        line.add("remote", flow.remote.description)
        line.add("family", flow.family.rawValue)
        line.add("state", flow.state.description)
        line.add("iss", flow.initialSendSequence)
        line.add("snd_nxt", flow.sendNext)
        line.add("rcv_nxt", flow.receiveNext)
        line.add("segments", flow.transcript.entries.count)
        line.add("unexpected", flow.transcript.unexpected.count)
      }
      for (key, value) in extra { line.add(key, value) }
      Terminal.out(line.description)
      return
    }
    if ok {
      // --quiet keeps exactly this line.
      Terminal.out(message)
    } else {
      Terminal.error(message.hasPrefix("tcpcraft") ? message : "tcpcraft: \(message)")
    }
  }

  /// `'a b'` for the command line on the SVG page (plain words stay as they are).
  static func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,@+".contains($0) }
    return plain && !word.isEmpty ? word : "'" + word.replacing("'", with: "'\\''") + "'"
  }

  /// `  0.000123`: seconds since the flow began, microsecond precision.
  static func time(_ elapsed: Duration) -> String {
    let (seconds, attoseconds) = elapsed.components
    let micro = attoseconds / 1_000_000_000_000
    let fraction = String(micro)
    return "\(seconds).\(String(repeating: "0", count: max(0, 6 - fraction.count)))\(fraction)"
  }
}

/// stdout/stderr lines, flushed at once (output may be a pipe read by a test or a harness).
enum Terminal {
  static func out(_ text: String) { write(.standardOutput, text + "\n") }

  /// A line on stderr. Control characters (an escape sequence in a bad argument, say) are shown
  /// escaped, never sent to the terminal: see `sanitized`.
  static func error(_ text: String) {
    // A message that already names us (the capability message: "tcpcraft needs ...") is not
    // prefixed twice.
    let prefix = "tcpcraft: "
    var line = text
    if line.hasPrefix(prefix + "tcpcraft ") || line.hasPrefix(prefix + "tcpcraft:") { line.removeFirst(prefix.count) }
    write(FileDescriptor(rawValue: 2), sanitized(line, keepingNewlines: true) + "\n")
  }

  /// `text` with control characters (C0 but tab, DEL, C1) written as `\u{1B}`-style escapes, so
  /// that echoing user input cannot drive the terminal. Newlines kept when asked (multi-line help).
  static func sanitized(_ text: String, keepingNewlines: Bool = false) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      let value = scalar.value
      let isControl = value < 0x20 || value == 0x7F || (0x80...0x9F).contains(value)
      if isControl && !(value == 0x09 || (keepingNewlines && value == 0x0A)) {
        result += "\\u{" + String(value, radix: 16, uppercase: true) + "}"
      } else {
        result.unicodeScalars.append(scalar)
      }
    }
    return result
  }

  /// Writes all of `text` (RawSocket retries short writes and EINTR); a closed pipe or a full
  /// disk loses the line, never the process.
  private static func write(_ file: FileDescriptor, _ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { raw in _ = try? file.writeAll(raw) }
  }
}
