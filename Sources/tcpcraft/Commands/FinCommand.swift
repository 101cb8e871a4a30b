import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft fin [HOST:PORT] ...`
enum FinCommand: Command {
  static let spec = CommandSpec(
    name: "fin",
    summary: "the 4-way close of a saved session (FIN, ACK, FIN, ACK)",
    synopsis: ["[HOST:PORT] [options]"],
    about: """
      The 4-way close of a session saved by `tcpcraft handshake`: FIN → ACK (FIN-WAIT-1 →
      FIN-WAIT-2), then the peer's FIN → our ACK (TIME-WAIT). HOST:PORT (and --sport) pick the
      session; without them there must be exactly one (several are listed, exit 2). --seq and --ack
      override what was saved. Without a saved session, give HOST:PORT, --sport, --seq and --ack.
      HOST:PORT is IPv4; [ADDR]:PORT is IPv6 (like [::1]:8080).
      A session the peer already half-closed (`tcpcraft data` saw its FIN, we are in CLOSE-WAIT)
      is closed from our side: our FIN (LAST-ACK), its ACK (CLOSED).
      Sessions are your own: they live in a directory only you can use (mode 700; under sudo, the
      invoking user's). One fin at a time per session; a fin that fails keeps the session, so it can
      be retried, and a session that never reached ESTABLISHED is never closed from.
      """,
    options: [
      OptionGroup([
        .integer("--sport", UInt16.self, "N", "our source port (picks the saved session; needed without one)"),
        .integer("--seq", UInt32.self, "N", "the sequence number of our FIN (default: the saved snd_nxt)"),
        .integer("--ack", UInt32.self, "N", "the acknowledgment number we send (default: the saved rcv_nxt)"),
        .seconds("--timeout", "how long to wait for each of the peer's segments (default 3)"),
        .integer("--window", UInt16.self, "N", "the window we advertise (default 65535)"),
        .toggle("--window-update", "one bare ACK after the peer acknowledges our FIN (seed 001's client does)"),
        Common.pcapOption,
      ]),
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft fin",
      "sudo tcpcraft fin --seq 84347052",
      "sudo tcpcraft fin 127.0.0.1:8080 --sport 57273 --seq 84347052 --ack 2958367134",
      "sudo tcpcraft fin [::1]:8080                              # the IPv6 session to [::1]:8080",
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    var remote: HostPort?
    do throws(UsageError) {
      try arguments.expectPositionals(atMost: 1, command: "fin")
      if let target = arguments.positionals.first { remote = try HostPort.parse(target, allowIPv6: true) }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(3)
    let sourcePort = arguments.integer("--sport", as: UInt16.self)
    let seq = arguments.integer("--seq", as: UInt32.self)
    let ack = arguments.integer("--ack", as: UInt32.self)
    var output = Output(arguments)
    // The session, if any: found, locked (one fin at a time), validated.
    var claimed: SessionStore.Claimed?
    var ignored = 0
    do throws(SessionError) {
      switch try SessionStore.claim(remote: remote, localPort: sourcePort) {
      case .claimed(let found): claimed = found
      case .none(let skipped):
        claimed = nil
        ignored = skipped
      case .ambiguous(let sessions):
        let which = remote.map { " for \($0)" } ?? ""
        Terminal.error("tcpcraft: fin: \(sessions.count) sessions\(which); say which (HOST:PORT, and --sport N):")
        for entry in sessions { Terminal.error("  \(entry.session.listing)") }
        return 2
      }
    } catch {
      output.result(ok: false, command: "fin", flow: nil, message: "fin: \(error.description)")
      return 1
    }
    var flow: Flow?
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let local: Endpoint
      let peer: Endpoint
      var iss: UInt32?
      var irs: UInt32?
      var sendNext: UInt32
      var receiveNext: UInt32
      if let claimed, let savedLocal = claimed.session.local, let savedRemote = claimed.session.remote {
        let session = claimed.session
        output.peerWithoutKernelSocket = session.peerKernelSocket == false
        // Never a FIN from a connection that was never established, nor from an address that
        // is not ours for that peer.
        let reached = TCPState(name: session.state)
        guard reached == .established || reached == .closeWait else {
          output.result(
            ok: false, command: "fin", flow: nil,
            message: "fin: the session \(session.listing) never reached ESTABLISHED; nothing sent")
          return 1
        }
        let route = try KernelTransport.route(to: savedRemote.address)
        guard route.source == savedLocal.address else {
          output.result(
            ok: false, command: "fin", flow: nil,
            message: "fin: the session's address \(session.localAddress) is not this machine's address toward "
              + "\(session.remoteAddress) (\(route.source)); nothing sent")
          return 1
        }
        local = savedLocal
        peer = savedRemote
        iss = session.initialSendSequence
        irs = session.initialReceiveSequence
        sendNext = session.sendNext
        receiveNext = session.receiveNext
      } else if let remote, let sourcePort, let seq, let ack {
        // No saved session: everything from the command line.
        let route = try KernelTransport.route(to: remote.ip)
        local = Endpoint(address: route.source, port: sourcePort)
        peer = remote.endpoint
        sendNext = seq
        receiveNext = ack
      } else {
        let which = remote.map { " for \($0)" } ?? ""
        output.result(
          ok: false, command: "fin", flow: nil,
          message: "no saved session\(which) in \(Terminal.sanitized(SessionStore.directory))"
            + (ignored > 0 ? " (\(ignored) file\(ignored == 1 ? "" : "s") ignored: not yours, or not a valid session)" : "")
            + ": run `tcpcraft handshake HOST:PORT` first, or give HOST:PORT --sport N --seq N --ack N")
        return 1
      }
      if let seq { sendNext = seq }
      if let ack { receiveNext = ack }
      if iss == nil { iss = sendNext &- 1 }
      if irs == nil { irs = receiveNext &- 1 }
      // A session the peer already half-closed (`tcpcraft data` saw its FIN): our FIN, its ACK.
      let halfClosed = claimed.flatMap { TCPState(name: $0.session.state) } == .closeWait && seq == nil
      // Our own guard for the close, whether or not the holder is still alive.
      let opened = try Flow.open(
        to: peer, sourcePort: local.port, sourceAddress: local.address, guardResets: true,
        state: halfClosed ? .closeWait : .established, initialSendSequence: iss, sendNext: sendNext, receiveNext: receiveNext,
        initialReceiveSequence: irs)
      flow = opened
      if let claimed, claimed.session.timestamps == true {
        opened.timestampsEnabled = true
        opened.peerTimestamp = claimed.session.peerTimestamp ?? 0
        opened.timestampOffset = claimed.session.timestampOffset ?? 0
      }
      if let window = arguments.integer("--window", as: UInt16.self) { opened.window = window }
      output.say("closing \(local) → \(peer): FIN at seq \(sendNext), ack \(receiveNext)")
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      if halfClosed {
        try opened.passiveClose(timeout: timeout)
      } else {
        try opened.activeClose(timeout: timeout, windowUpdate: arguments.has("--window-update"))
      }
      if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
      output.drawLadder(opened)
      let peerState = KernelTransport.kernelState(of: peer, peer: local, diag: PeerNamespace.diag(owning: peer.address) ?? (try? InetDiag()), connectionSeen: true)
      var message = "closed: we are in \(opened.state)"
      message += opened.state == .timeWait ? " (a real stack would wait 2·MSL here; we stop now)" : ""
      if output.peerWithoutKernelSocket || PeerStates.noKernelSocket(opened.transcript.entries) {
        // No kernel socket ever owned the peer's end: there is no socket to be "gone".
        message += "; the peer: no kernel socket here (a hand-driven peer such as tcpcraft listen)"
      } else if let peerState {
        let spelled = TCPState(name: peerState)?.description ?? peerState
        message += "; the peer's socket: \(peerState == "CLOSED" ? "gone (CLOSED)" : spelled)"
      }
      output.result(ok: true, command: "fin", flow: opened, message: message)
      opened.close()
      // Closed: the session is over. Remove its file and release the holder's guard.
      if let claimed {
        claimed.directory.remove(claimed.name, ifStill: claimed.file)
        GuardHolder.stop(claimed.session)
        claimed.release()
      }
      return 0
    } catch {
      if let flow {
        if let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
        output.drawLadder(flow)
        flow.close()
      }
      // A failed fin keeps the session (and its holder): it can be retried.
      var failure = error.description
      if let claimed {
        failure += "; the session is kept: retry with `tcpcraft fin \(claimed.session.remoteText) --sport \(claimed.session.localPort)`"
        claimed.release()
      }
      output.result(ok: false, command: "fin", flow: flow, message: failure)
      return 1
    }
  }
}
