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

  /// Reads the output switches every exchange command shares.
  init(_ arguments: Arguments) {
    json = arguments.has("--json")
    explain = arguments.has("--explain")
    relative = arguments.has("--relative")
    ladder = !arguments.has("--no-ladder")
    quiet = arguments.has("--quiet")
    rfcNames = arguments.has("--rfc-names")
  }

  init() {}

  /// Prints a line on stdout (human mode only).
  func say(_ text: String) {
    guard !json, !quiet else { return }
    Terminal.out(text)
  }

  /// One segment: `out IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], ...   CLOSED → SYN_SENT | peer LISTEN`.
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
    var line = "\(Output.time(entry.elapsed)) \(direction) \(summary)"
    var beside = "  [\(entry.stateChange(rfcNames: rfcNames))"
    if let peer = entry.peerState {
      beside += " | peer \(rfcNames ? TCPState(name: peer)?.rfcName ?? peer : peer)"
    }
    beside += "]"
    line += beside
    if let note = entry.note { line += "  (\(note))" }
    Terminal.out(line)
    if explain,
      let explanation = Explainer.explain(
        entry, ourISS: transcript.initialSendSequence, peerIRS: transcript.initialReceiveSequence)
    {
      Terminal.out("            ↳ \(explanation)")
    }
  }

  /// The ladder diagram of a whole exchange (human mode).
  func drawLadder(_ flow: Flow) {
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
      if !quiet { Terminal.out(message) }
    } else {
      Terminal.error(message.hasPrefix("tcpcraft") ? message : "tcpcraft: \(message)")
    }
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

  static func error(_ text: String) { write(FileDescriptor(rawValue: 2), text + "\n") }

  /// Writes all of `text` (RawSocket retries short writes and EINTR); a closed pipe or a full
  /// disk loses the line, never the process.
  private static func write(_ file: FileDescriptor, _ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { raw in _ = try? file.writeAll(raw) }
  }
}
