import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft handshake HOST:PORT ...`
enum HandshakeCommand: Command {
  static let spec = CommandSpec(
    name: "handshake",
    summary: "SYN, SYN+ACK, ACK by hand; leaves the connection ESTABLISHED for `fin`",
    synopsis: ["HOST:PORT [options]"],
    about: """
      Performs the 3-way handshake by hand (SYN → SYN+ACK → ACK) and leaves the connection
      ESTABLISHED. The session (4-tuple, next seq, next ack) is saved so that `tcpcraft fin` can
      close it later; a small background process (`tcpcraft __hold-guard`) keeps the kernel from
      resetting the connection until then, or until --hold seconds pass idle (default 300). Its
      firewall table belongs to that process and vanishes with it, even on SIGKILL; it removes the
      session file when it leaves. An interrupted handshake (Ctrl-C, SIGTERM, even SIGKILL) takes
      the holder and the session with it. A 4-tuple a live session holds is refused.
      HOST:PORT is IPv4 (like 127.0.0.1:8080); [ADDR]:PORT is IPv6 (like [::1]:8080).
      """,
    options: [
      OptionGroup([
        .integer("--sport", UInt16.self, "N", "our source port (default: random, 32768-60999)"),
        .integer("--isn", UInt32.self, "N", "our initial sequence number (default: random)"),
        .integer("--window", UInt16.self, "N", "the window we advertise (default 65535)"),
        .integer("--ack-window", UInt16.self, "N", "the window on every segment after our SYN (a scaled window; seed 001: 12759)"),
        .integer("--ttl", UInt8.self, "N", "the time to live (IPv4) or hop limit (IPv6) of our segments (default 64)"),
        .seconds("--timeout", "how long to wait for the SYN+ACK (default 3)"),
        .seconds("--hold", "how long the RST guard stays up while the session is idle (default 300)"),
        Common.pcapOption,
      ]),
      OptionGroup("TCP options in our SYN (in the classic order: mss, wscale, TS, sackOK):", Common.synOptionTable),
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft handshake 127.0.0.1:8080",
      "sudo tcpcraft handshake [::1]:8080                       # over IPv6",
      """
      sudo tcpcraft handshake 127.0.0.1:8080 --sport 57273 --isn 84347051 --window 65535 \\
          --mss 16344 --wscale 5 --timestamps --tsval 1525310591 --sack-perm
      """,
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    let remote: HostPort
    do throws(UsageError) {
      remote = try arguments.target(
        command: "handshake", missing: "handshake: missing HOST:PORT (like 127.0.0.1:8080 or [::1]:8080)", allowIPv6: true)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(3)
    let hold = arguments.seconds("--hold").map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 300
    let output = Output(arguments)
    let remoteEndpoint = remote.endpoint
    var holder: GuardHolder.Started?
    var sessionName: String?
    var directory: SafeDirectory?
    var flow: Flow?
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let route = try KernelTransport.route(to: remote.ip)
      let sourcePort = arguments.integer("--sport", as: UInt16.self)
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
        localAddress: local.address.description, localPort: local.port,
        remoteAddress: remote.ip.description, remotePort: remote.port,
        interface: route.interface, state: TCPState.closed.description, initialSendSequence: 0,
        sendNext: 0, initialReceiveSequence: nil, receiveNext: 0, holderPID: 0, holdSeconds: hold,
        createdAt: now, updatedAt: now, token: token, family: remote.family.rawValue)
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
        initialSendSequence: arguments.integer("--isn", as: UInt32.self))
      flow = opened
      if let window = arguments.integer("--window", as: UInt16.self) { opened.window = window }
      opened.windowAfterSYN = arguments.integer("--ack-window", as: UInt16.self)
      if let ttl = arguments.integer("--ttl", as: UInt8.self) { opened.timeToLive = ttl }
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      if let tsval = arguments.integer("--tsval", as: UInt32.self) {
        opened.timestampOffset = tsval &- Flow.millisecondClock()
      }
      let options = Common.synOptions(arguments, timestamp: opened.currentTimestamp)
      try opened.activeOpen(options: options, timeout: timeout)

      session.state = opened.state.description
      session.initialSendSequence = opened.initialSendSequence
      session.sendNext = opened.sendNext
      session.initialReceiveSequence = opened.initialReceiveSequence
      session.receiveNext = opened.receiveNext
      session.timestamps = opened.timestampsEnabled
      session.peerTimestamp = opened.peerTimestamp
      session.timestampOffset = opened.timestampOffset
      if PeerStates.noKernelSocket(opened.transcript.entries) { session.peerKernelSocket = false }
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
      return Common.reportFailure(error, flow: flow, arguments: arguments, output: output, command: "handshake")
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
              description: "\(session.localText) → \(session.remoteText) "
                + "is already held by another session (guard pid \(existing.holderPID)); close it first with "
                + "`tcpcraft fin \(session.remoteText) --sport \(session.localPort)`")
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
