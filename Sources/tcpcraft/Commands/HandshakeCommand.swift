import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft handshake HOST:PORT ...`
enum HandshakeCommand {
  static let valued: Set<String> = Set<String>(["--sport", "--isn", "--window", "--mss", "--wscale", "--tsval", "--timeout", "--pcap", "--hold", "--ttl", "--ack-window"]).union(Common.outputValued)
  static let switches: Set<String> = Common.outputSwitches.union(["--sack-perm", "--timestamps"])

  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    let remote: HostPort
    let timeout: Duration
    let hold: Double
    do throws(UsageError) {
      arguments = try Arguments(argv, command: "handshake", valued: valued, switches: switches)
      if arguments.wantsHelp { Terminal.out(Help.handshake); return 0 }
      remote = try arguments.target(command: "handshake", missing: "handshake: missing HOST:PORT (like 127.0.0.1:8080)")
      _ = try Common.synOptions(arguments)
      timeout = try arguments.seconds("--timeout") ?? .seconds(3)
      hold = try arguments.seconds("--hold").map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 300
      _ = try arguments.integer("--sport", as: UInt16.self)
      _ = try arguments.integer("--isn", as: UInt32.self)
      _ = try arguments.integer("--window", as: UInt16.self)
      _ = try arguments.integer("--ack-window", as: UInt16.self)
      _ = try arguments.integer("--ttl", as: UInt8.self)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let output = Output(arguments)
    let remoteEndpoint = Endpoint(address: remote.address, port: remote.port)
    var holderPID: Int32 = 0
    var sessionPath: String?
    var flow: Flow?
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let route = try KernelTransport.route(to: remote.address)
      let sourcePort = (try? arguments.integer("--sport", as: UInt16.self)) ?? nil
      let port = sourcePort ?? Flow.freeEphemeralPort()
      let local = Endpoint(address: route.source, port: port)
      // The session file first: the guard holder lives only while it exists.
      let now = SessionStore.now
      var session = Session(
        localAddress: IPv4Text.format(local.address), localPort: local.port,
        remoteAddress: IPv4Text.format(remote.address), remotePort: remote.port,
        interface: route.interface, state: TCPState.closed.description, initialSendSequence: 0,
        sendNext: 0, initialReceiveSequence: nil, receiveNext: 0, holderPID: 0, holdSeconds: hold,
        createdAt: now, updatedAt: now)
      do {
        try SessionStore.save(session)
      } catch {
        throw ScriptError.system(step: "saving the session in \(SessionStore.directory)", description: "\(error)")
      }
      sessionPath = SessionStore.path(for: session)
      holderPID = try GuardHolder.spawn(local: local, remote: remoteEndpoint, hold: hold, sessionPath: SessionStore.path(for: session))
      session.holderPID = holderPID
      output.say("handshake with \(remote) from \(local) on \(route.interface); RST guard held by pid \(holderPID)")

      let opened = try Flow.open(
        to: remoteEndpoint, sourcePort: local.port, sourceAddress: local.address, guardResets: false,
        initialSendSequence: try? arguments.integer("--isn", as: UInt32.self))
      flow = opened
      if let window = try? arguments.integer("--window", as: UInt16.self) { opened.window = window }
      opened.windowAfterSYN = (try? arguments.integer("--ack-window", as: UInt16.self)) ?? nil
      if let ttl = try? arguments.integer("--ttl", as: UInt8.self) { opened.timeToLive = ttl }
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      if let tsval = try? arguments.integer("--tsval", as: UInt32.self) {
        opened.timestampOffset = tsval &- Flow.millisecondClock()
      }
      let options = (try? Common.synOptions(arguments, timestamp: opened.currentTimestamp)) ?? []
      try opened.activeOpen(options: options, timeout: timeout)

      session.state = opened.state.description
      session.initialSendSequence = opened.initialSendSequence
      session.sendNext = opened.sendNext
      session.initialReceiveSequence = opened.initialReceiveSequence
      session.receiveNext = opened.receiveNext
      session.timestamps = opened.timestampsEnabled
      session.peerTimestamp = opened.peerTimestamp
      session.timestampOffset = opened.timestampOffset
      session.updatedAt = SessionStore.now
      do {
        try SessionStore.save(session)
      } catch {
        throw ScriptError.system(step: "saving the session", description: "\(error)")
      }
      if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
      output.drawLadder(opened)
      let message =
        "ESTABLISHED: \(local) → \(remote), snd_nxt \(opened.sendNext), rcv_nxt \(opened.receiveNext). "
        + "The RST guard stays up (pid \(holderPID)) until `tcpcraft fin` or \(Int(hold)) s idle. "
        + "Close with: tcpcraft fin (or: tcpcraft fin \(remote) --seq \(opened.sendNext))"
      output.result(
        ok: true, command: "handshake", flow: opened, message: message,
        extra: [("session", SessionStore.path(for: session)), ("guard_pid", String(holderPID))])
      opened.close()
      return 0
    } catch {
      if holderPID > 0 { GuardHolder.stop(pid: holderPID) }
      if let sessionPath { SessionStore.remove(path: sessionPath) }
      if let flow {
        if let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
        output.drawLadder(flow)
      }
      return Common.report(error, output: output, command: "handshake", flow: flow)
    }
  }
}

