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
      firewall table belongs to that process and vanishes with it, even on SIGKILL.
      """,
    options: [
      OptionGroup([
        .integer("--sport", UInt16.self, "N", "our source port (default: random, 32768-60999)"),
        .integer("--isn", UInt32.self, "N", "our initial sequence number (default: random)"),
        .integer("--window", UInt16.self, "N", "the window we advertise (default 65535)"),
        .integer("--ack-window", UInt16.self, "N", "the window on every segment after our SYN (a scaled window; seed 001: 12759)"),
        .integer("--ttl", UInt8.self, "N", "the IPv4 time to live of our segments (default 64)"),
        .seconds("--timeout", "how long to wait for the SYN+ACK (default 3)"),
        .seconds("--hold", "how long the RST guard stays up while the session is idle (default 300)"),
        Common.pcapOption,
      ]),
      OptionGroup("TCP options in our SYN (in the classic order: mss, wscale, TS, sackOK):", Common.synOptionTable),
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft handshake 127.0.0.1:8080",
      """
      sudo tcpcraft handshake 127.0.0.1:8080 --sport 57273 --isn 84347051 --window 65535 \\
          --mss 16344 --wscale 5 --timestamps --tsval 1525310591 --sack-perm
      """,
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    let remote: HostPort
    do throws(UsageError) {
      remote = try arguments.target(command: "handshake", missing: "handshake: missing HOST:PORT (like 127.0.0.1:8080)")
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(3)
    let hold = arguments.seconds("--hold").map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 300
    let output = Output(arguments)
    let remoteEndpoint = Endpoint(address: remote.address, port: remote.port)
    var holderPID: Int32 = 0
    var sessionPath: String?
    var flow: Flow?
    do throws(ScriptError) {
      try KernelTransport.requirePrivileges()
      let route = try KernelTransport.route(to: remote.address)
      let sourcePort = arguments.integer("--sport", as: UInt16.self)
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

