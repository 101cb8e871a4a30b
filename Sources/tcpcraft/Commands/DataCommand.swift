import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft data [HOST:PORT] TEXT`: data inside a saved session (after `tcpcraft handshake`),
/// with seq and ack from the session, then the peer's reply shown and acknowledged. The session
/// is updated, so `data` can be repeated and `fin` closes at the right numbers.
enum DataCommand: Command {
  static let spec = CommandSpec(
    name: "data",
    summary: "send data inside a saved session (after handshake) and show the peer's reply",
    synopsis: ["[HOST:PORT] TEXT [options]"],
    about: """
      Sends TEXT (a \\n, \\r or \\t in it is sent as the character) in one PSH+ACK segment inside
      the connection `tcpcraft handshake` left open: seq and ack come from the saved session. Waits
      up to --timeout for the ACK of the data, then --wait after each segment of the reply,
      acknowledging every data segment (and a FIN: the peer's half-close), and prints the reply.
      The session is updated, so `data` can be repeated and `fin` closes at the right numbers.
      HOST:PORT and --sport choose a session when there are several; [ADDR]:PORT names an IPv6
      one (like [::1]:8080).
      """,
    options: [
      OptionGroup([
        .integer("--sport", UInt16.self, "N", "our source port (picks the saved session)"),
        .seconds("--timeout", "how long to wait for the ACK of our data (default 3)"),
        .seconds("--wait", "how long to wait for more of the reply after each segment (default 1)"),
        .toggle("--hex", "show the reply as hex bytes"),
        Common.pcapOption,
      ]),
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft handshake 127.0.0.1:8080",
      #"sudo tcpcraft data 127.0.0.1:8080 'GET / HTTP/1.0\r\n\r\n' --explain"#,
      "sudo tcpcraft fin",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    var remote: HostPort?
    let text: String
    do throws(UsageError) {
      try arguments.expectPositionals(atMost: 2, command: "data")
      let positionals = arguments.positionals
      guard let last = positionals.last else { throw UsageError("data: missing TEXT (like 'GET / HTTP/1.0\\r\\n\\r\\n')") }
      if positionals.count == 2 { remote = try HostPort.parse(positionals[0], allowIPv6: true) }
      // `data 127.0.0.1:8080` with the TEXT forgotten would send "127.0.0.1:8080" as the data
      // into whatever session is saved: a lone HOST:PORT is a missing TEXT, not the text.
      if positionals.count == 1, (try? HostPort.parse(last, allowIPv6: true)) != nil {
        throw UsageError("data: missing TEXT after \(last) (like: tcpcraft data \(last) 'GET / HTTP/1.0\\r\\n\\r\\n')")
      }
      text = last
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(3)
    let wait = arguments.seconds("--wait") ?? .seconds(1)
    let sourcePort = arguments.integer("--sport", as: UInt16.self)
    let payload = Array(unescape(text).utf8)
    guard !payload.isEmpty else {
      Terminal.error("tcpcraft: data: TEXT is empty (a data segment carries at least one byte)")
      return 2
    }
    var output = Output(arguments)
    // The session: the user's own, validated, and locked while we use it (see SessionStore.claim).
    let found: SessionStore.Claimed
    do throws(SessionError) {
      switch try SessionStore.claim(remote: remote, localPort: sourcePort) {
      case .claimed(let claimed):
        found = claimed
      case .ambiguous(let sessions):
        let which = remote.map { " for \($0)" } ?? ""
        Terminal.error("tcpcraft: data: \(sessions.count) sessions\(which); say which (HOST:PORT, and --sport N):")
        for entry in sessions { Terminal.error("  \(entry.session.listing)") }
        return 2
      case .none:
        let which = remote.map { " for \($0)" } ?? ""
        output.result(
          ok: false, command: "data", flow: nil,
          message: "no saved session\(which) in \(Terminal.sanitized(SessionStore.directory)): run `tcpcraft handshake HOST:PORT` first")
        return 1
      }
    } catch {
      output.result(ok: false, command: "data", flow: nil, message: "data: \(error.description)")
      return 1
    }
    defer { found.release() }
    guard let local = found.session.local, let peer = found.session.remote else { return 1 }
    var session = found.session
    output.peerWithoutKernelSocket = session.peerKernelSocket == false
    let state = TCPState(name: session.state) ?? .established
    guard state == .established || state == .closeWait else {
      output.result(
        ok: false, command: "data", flow: nil,
        message: "the saved session is in \(state): data can be sent in ESTABLISHED or CLOSE-WAIT only")
      return 1
    }
    var flow: Flow?
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let opened = try Flow.open(
        to: peer, sourcePort: local.port, sourceAddress: local.address, guardResets: true, state: state,
        initialSendSequence: session.initialSendSequence, sendNext: session.sendNext,
        receiveNext: session.receiveNext, initialReceiveSequence: session.initialReceiveSequence)
      flow = opened
      if session.timestamps == true {
        opened.timestampsEnabled = true
        opened.peerTimestamp = session.peerTimestamp ?? 0
        opened.timestampOffset = session.timestampOffset ?? 0
      }
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      output.say("data to \(peer) from \(local): \(payload.count) bytes at seq \(session.sendNext), ack \(session.receiveNext)")
      try opened.send([.psh, .ack], payload: payload, step: "data: sending")
      let end = opened.sendNext
      var reply = try opened.expect(.acknowledging(end, what: "the ACK of our data"), within: timeout, step: "data: waiting for the ACK")
      // The reply: every data segment (and a FIN) acknowledged, until --wait passes quietly.
      // Bounded: at most 256 segments.
      for _ in 0..<256 {
        if !reply.payload.isEmpty || reply.flags.contains(.fin) {
          try opened.send(.ack, step: "data: acknowledging the reply")
        }
        guard let next = try? opened.expect(.nextFromPeer("more of the reply"), within: wait, step: "data: reading the reply")
        else { break }
        reply = next
      }
      opened.clearUnmatched()
      session.state = opened.state.description
      session.sendNext = opened.sendNext
      session.receiveNext = opened.receiveNext
      session.peerTimestamp = opened.peerTimestamp
      session.updatedAt = SessionStore.now
      do throws(SessionError) {
        try SessionStore.save(session, in: found.directory)
      } catch {
        throw ScriptError.system(step: "data", description: error.description)
      }
      if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
      output.drawLadder(opened)
      let received = opened.receivedData
      let shown =
        arguments.has("--hex")
        ? received.map { String($0, radix: 16) }.joined(separator: " ")
        : String(decoding: received, as: UTF8.self).debugDescription
      var message = "sent \(payload.count) bytes; the peer replied \(received.count) bytes: \(shown)"
      if opened.state == .closeWait { message += "; the peer closed its side (FIN): we are in CLOSE-WAIT, half-closed" }
      message += ". snd_nxt \(opened.sendNext), rcv_nxt \(opened.receiveNext) saved"
      output.result(ok: true, command: "data", flow: opened, message: message)
      opened.close()
      return 0
    } catch {
      return Common.reportFailure(error, flow: flow, arguments: arguments, output: output, command: "data")
    }
  }

  /// `\n`, `\r`, `\t` and `\\` in TEXT as the characters they name (shells pass them literally).
  static func unescape(_ text: String) -> String {
    var out = ""
    var escaping = false
    for character in text {
      if escaping {
        switch character {
        case "n": out.append("\n")
        case "r": out.append("\r")
        case "t": out.append("\t")
        case "\\": out.append("\\")
        default: out.append("\\"); out.append(character)
        }
        escaping = false
      } else if character == "\\" {
        escaping = true
      } else {
        out.append(character)
      }
    }
    if escaping { out.append("\\") }
    return out
  }
}
