import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft fin [HOST:PORT] ...`
enum FinCommand {
  static let valued: Set<String> = Set<String>(["--sport", "--seq", "--ack", "--timeout", "--pcap", "--window"]).union(Common.outputValued)
  static let switches: Set<String> = Common.outputSwitches.union(["--window-update"])

  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    var remote: HostPort?
    let timeout: Duration
    let sourcePort: UInt16?
    let seq: UInt32?
    let ack: UInt32?
    do throws(UsageError) {
      arguments = try Arguments(argv, command: "fin", valued: valued, switches: switches)
      if arguments.wantsHelp { Terminal.out(Help.fin); return 0 }
      try arguments.expectPositionals(atMost: 1, command: "fin")
      if let target = arguments.positionals.first { remote = try HostPort.parse(target) }
      timeout = try arguments.seconds("--timeout") ?? .seconds(3)
      sourcePort = try arguments.integer("--sport", as: UInt16.self)
      seq = try arguments.integer("--seq", as: UInt32.self)
      ack = try arguments.integer("--ack", as: UInt32.self)
      _ = try arguments.integer("--window", as: UInt16.self)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
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
      if let window = try? arguments.integer("--window", as: UInt16.self) { opened.window = window }
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
