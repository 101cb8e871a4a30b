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
      The 4-way close of a session saved by `tcpcraft handshake` (the most recent one when HOST:PORT
      is omitted): FIN → ACK (FIN-WAIT-1 → FIN-WAIT-2), then the peer's FIN → our ACK (TIME-WAIT).
      --seq and --ack override what was saved. Without a saved session, give HOST:PORT, --sport,
      --seq and --ack. A session the peer already half-closed (`tcpcraft data` saw its FIN, we
      are in CLOSE-WAIT) is closed from our side: our FIN (LAST-ACK), its ACK (CLOSED).
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
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    var remote: HostPort?
    do throws(UsageError) {
      try arguments.expectPositionals(atMost: 1, command: "fin")
      if let target = arguments.positionals.first { remote = try HostPort.parse(target) }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(3)
    let sourcePort = arguments.integer("--sport", as: UInt16.self)
    let seq = arguments.integer("--seq", as: UInt32.self)
    let ack = arguments.integer("--ack", as: UInt32.self)
    let output = Output(arguments)
    var flow: Flow?
    let found = SessionStore.find(remote: remote, localPort: sourcePort)
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let local: Endpoint
      let peer: Endpoint
      var iss: UInt32?
      var irs: UInt32?
      var sendNext: UInt32
      var receiveNext: UInt32
      if let found, let savedLocal = found.session.local, let savedRemote = found.session.remote {
        local = savedLocal
        peer = savedRemote
        iss = found.session.initialSendSequence
        irs = found.session.initialReceiveSequence
        sendNext = found.session.sendNext
        receiveNext = found.session.receiveNext
      } else if let remote, let sourcePort, let seq, let ack {
        // No saved session: everything from the command line.
        let route = try KernelTransport.route(to: remote.address)
        local = Endpoint(address: route.source, port: sourcePort)
        peer = Endpoint(address: remote.address, port: remote.port)
        sendNext = seq
        receiveNext = ack
      } else {
        let which = remote.map { " for \($0)" } ?? ""
        output.result(
          ok: false, command: "fin", flow: nil,
          message: "no saved session\(which) in \(SessionStore.directory): run `tcpcraft handshake HOST:PORT` first, "
            + "or give HOST:PORT --sport N --seq N --ack N")
        return 1
      }
      if let seq { sendNext = seq }
      if let ack { receiveNext = ack }
      if iss == nil { iss = sendNext &- 1 }
      if irs == nil { irs = receiveNext &- 1 }
      // A session the peer already half-closed (`tcpcraft data` saw its FIN): our FIN, its ACK.
      let halfClosed = found.flatMap { TCPState(name: $0.session.state) } == .closeWait && seq == nil
      // Our own guard for the close, whether or not the holder is still alive.
      let opened = try Flow.open(
        to: peer, sourcePort: local.port, sourceAddress: local.address, guardResets: true,
        state: halfClosed ? .closeWait : .established, initialSendSequence: iss, sendNext: sendNext, receiveNext: receiveNext,
        initialReceiveSequence: irs)
      flow = opened
      if let found, found.session.timestamps == true {
        opened.timestampsEnabled = true
        opened.peerTimestamp = found.session.peerTimestamp ?? 0
        opened.timestampOffset = found.session.timestampOffset ?? 0
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
      let peerState = KernelTransport.kernelState(of: peer, peer: local, diag: try? InetDiag(), connectionSeen: true)
      var message = "closed: we are in \(opened.state)"
      message += opened.state == .timeWait ? " (a real stack would wait 2·MSL here; we stop now)" : ""
      if let peerState {
        let spelled = TCPState(name: peerState)?.description ?? peerState
        message += "; the peer's socket: \(peerState == "CLOSED" ? "gone (CLOSED)" : spelled)"
      }
      output.result(ok: true, command: "fin", flow: opened, message: message)
      finish(found, flow: opened)
      return 0
    } catch {
      if let flow {
        if let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
        output.drawLadder(flow)
      }
      let status = Common.report(error, output: output, command: "fin", flow: flow)
      finish(found, flow: flow)
      return status
    }
  }

  /// The session is over either way: remove its file and release the holder's guard.
  private static func finish(_ found: (path: String, session: Session)?, flow: Flow?) {
    flow?.close()
    guard let found else { return }
    SessionStore.remove(path: found.path)
    GuardHolder.stop(pid: found.session.holderPID)
  }
}
