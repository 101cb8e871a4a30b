import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft handshake HOST:PORT ...`
enum HandshakeCommand {
  static let valued: Set<String> = ["--sport", "--isn", "--window", "--mss", "--wscale", "--tsval", "--timeout", "--pcap", "--hold", "--ttl"]
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
      _ = try arguments.integer("--ttl", as: UInt8.self)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let output = Output(arguments)
    let remoteEndpoint = Endpoint(address: remote.address, port: remote.port)
    var holder: GuardHolder.Started?
    var sessionName: String?
    var directory: SafeDirectory?
    var flow: Flow?
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let route = try KernelTransport.route(to: remote.address)
      let sourcePort = (try? arguments.integer("--sport", as: UInt16.self)) ?? nil
      let port = sourcePort ?? Flow.freeEphemeralPort()
      let local = Endpoint(address: route.source, port: port)
      let sessions: SafeDirectory
      do throws(SessionError) {
        guard let opened = try SessionStore.open(create: true) else { throw SessionError("cannot create it") }
        sessions = opened
      } catch {
        throw ScriptError.system(step: "handshake", description: error.description)
      }
      directory = sessions
      // The session file first (created only if none exists for this 4-tuple): the guard holder
      // lives only while it exists.
      let now = SessionStore.now
      let token = SafeFile.randomHex(bytes: 16)
      var session = Session(
        localAddress: IPv4Text.format(local.address), localPort: local.port,
        remoteAddress: IPv4Text.format(remote.address), remotePort: remote.port,
        interface: route.interface, state: TCPState.closed.description, initialSendSequence: 0,
        sendNext: 0, initialReceiveSequence: nil, receiveNext: 0, holderPID: 0, holdSeconds: hold,
        createdAt: now, updatedAt: now, token: token)
      try claim(session, in: sessions)
      sessionName = session.fileName
      let started = try GuardHolder.spawn(
        local: local, remote: remoteEndpoint, hold: hold, sessionPath: sessions.path(of: session.fileName), token: token)
      holder = started
      session.holderPID = started.pid
      try save(session, in: sessions)
      output.say("handshake with \(remote) from \(local) on \(route.interface); RST guard held by pid \(started.pid)")

      let opened = try Flow.open(
        to: remoteEndpoint, sourcePort: local.port, sourceAddress: local.address, guardResets: false,
        initialSendSequence: try? arguments.integer("--isn", as: UInt32.self))
      flow = opened
      if let window = try? arguments.integer("--window", as: UInt16.self) { opened.window = window }
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
      try save(session, in: sessions)
      if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
      // Established and saved: the holder keeps the guard after we exit.
      started.release()
      holder = nil
      output.drawLadder(opened)
      let message =
        "ESTABLISHED: \(local) → \(remote), snd_nxt \(opened.sendNext), rcv_nxt \(opened.receiveNext). "
        + "The RST guard stays up (pid \(started.pid)) until `tcpcraft fin` or \(Int(hold)) s idle. "
        + "Close with: tcpcraft fin \(remote) --sport \(local.port)"
      output.result(
        ok: true, command: "handshake", flow: opened, message: message,
        extra: [("session", sessions.path(of: session.fileName)), ("guard_pid", String(started.pid))])
      opened.close()
      return 0
    } catch {
      // The holder sees its lifeline close and leaves (removing the session file); the file is
      // removed here too, in case the holder never started.
      holder?.abandon()
      if let sessionName, let directory { directory.remove(sessionName) }
      if let flow {
        if let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
        output.drawLadder(flow)
      }
      return Common.report(error, output: output, command: "handshake", flow: flow)
    }
  }

  /// Creates `session`'s file, refusing when a live session already holds its 4-tuple. A file
  /// left by a holder that is gone (killed) is replaced.
  static func claim(_ session: Session, in directory: SafeDirectory) throws(ScriptError) {
    for _ in 0..<3 {
      do throws(SessionError) {
        try SessionStore.save(session, in: directory, exclusive: true)
        return
      } catch {
        switch SessionStore.load(session.fileName, in: directory) {
        case .success(let existing)?:
          if let live = GuardHolder.holder(of: existing) {
            live.close()
            throw ScriptError.system(
              step: "handshake",
              description: "\(session.localAddress):\(session.localPort) → \(session.remoteAddress):\(session.remotePort) "
                + "is already held by another session (guard pid \(existing.holderPID)); close it first with "
                + "`tcpcraft fin \(session.remoteAddress):\(session.remotePort) --sport \(session.localPort)`")
          }
          // Its holder is gone: the session is stale.
          directory.remove(session.fileName)
        case .failure(let problem)?:
          throw ScriptError.system(step: "handshake", description: "\(error.description) (\(problem.description))")
        case nil:
          continue
        }
      }
    }
    throw ScriptError.system(step: "handshake", description: "the session file for this 4-tuple kept changing")
  }

  static func save(_ session: Session, in directory: SafeDirectory) throws(ScriptError) {
    do throws(SessionError) {
      try SessionStore.save(session, in: directory)
    } catch {
      throw ScriptError.system(step: "handshake", description: error.description)
    }
  }
}
