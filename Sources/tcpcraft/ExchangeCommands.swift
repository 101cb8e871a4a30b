import Foundation
import PacketKit
import RawSocket
import TCPScript

/// Options shared by every command that drives an exchange.
enum Common {
  static let outputSwitches: Set<String> = ["--json", "--explain", "--relative", "--no-ladder", "--quiet", "--rfc-names"]

  /// Writes `flow`'s segments to `path` as a pcap (LINKTYPE_RAW: IPv4 packets).
  static func writePcap(_ flow: Flow, to path: String) throws(ScriptError) {
    try writePcap(flow.transcript.entries, to: path)
  }

  static func writePcap(_ entries: [TranscriptEntry], to path: String) throws(ScriptError) {
    let records = entries.map {
      (bytes: $0.wirePacket, seconds: Int($0.timestampSeconds), nanoseconds: Int($0.timestampNanoseconds))
    }
    if let problem = writeRawIPv4Pcap(records, to: path) {
      throw .system(step: "writing \(path)", description: problem)
    }
  }

  /// Writes IPv4 packets (LINKTYPE_RAW) with their timestamps to `path`, relative to the current
  /// directory. Returns what went wrong, or `nil`.
  static func writeRawIPv4Pcap(
    _ records: [(bytes: [UInt8], seconds: Int, nanoseconds: Int)], to path: String
  ) -> String? {
    let writer = PcapWriter(linkType: .raw)
    var file: [UInt8] = []
    writer.appendFileHeader(to: &file)
    for record in records {
      writer.appendRecord(
        record.bytes, timestampSeconds: UInt32(truncatingIfNeeded: record.seconds),
        timestampNanoseconds: UInt32(truncatingIfNeeded: record.nanoseconds), to: &file)
    }
    guard FileManager.default.createFile(atPath: absolute(path), contents: Data(file)) else {
      return "cannot create the file (\(String(cString: strerror(errno))))"
    }
    return nil
  }

  /// `path` made absolute against the current directory.
  static func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  }

  /// TCP options from `--mss`, `--wscale`, `--sack-perm`, `--timestamps` (`--tsval`), in the
  /// order of the classic trace in the lab walkthrough: mss, nop, wscale, nop, nop, TS, sackOK, eol.
  static func synOptions(_ arguments: Arguments, timestamp: UInt32 = 0) throws(UsageError) -> [TCPOption] {
    var options: [TCPOption] = []
    if let mss = try arguments.integer("--mss", as: UInt16.self) { options.append(.maximumSegmentSize(mss)) }
    if let scale = try arguments.integer("--wscale", as: UInt8.self) {
      guard scale <= 14 else {
        throw UsageError("--wscale: \(scale) is more than 14 (RFC 7323 §2.3); craft it with `tcpcraft send --option wscale=\(scale)`")
      }
      options.append(.noOperation)
      options.append(.windowScale(scale))
    }
    let tsval = try arguments.integer("--tsval", as: UInt32.self)
    if arguments.has("--timestamps") || tsval != nil {
      options.append(.noOperation)
      options.append(.noOperation)
      options.append(.timestamps(value: tsval ?? timestamp, echoReply: 0))
    }
    if arguments.has("--sack-perm") { options.append(.sackPermitted) }
    if !options.isEmpty && options.count % 4 != 0 { options.append(.endOfOptionList) }
    return options
  }

  /// Runs `body`, turning a `ScriptError` into the right message and exit status.
  static func report(_ error: ScriptError, output: Output, command: String, flow: Flow?) -> Int32 {
    output.result(ok: false, command: command, flow: flow, message: error.description)
    return 1
  }
}

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

/// `tcpcraft fin [HOST:PORT] ...`
enum FinCommand {
  static let valued: Set<String> = ["--sport", "--seq", "--ack", "--timeout", "--pcap"]
  static let switches: Set<String> = Common.outputSwitches

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
      // Our own guard for the close, whether or not the holder is still alive.
      let opened = try Flow.open(
        to: peer, sourcePort: local.port, sourceAddress: local.address, guardResets: true,
        state: .established, initialSendSequence: iss, sendNext: sendNext, receiveNext: receiveNext,
        initialReceiveSequence: irs)
      flow = opened
      if let found, found.session.timestamps == true {
        opened.timestampsEnabled = true
        opened.peerTimestamp = found.session.peerTimestamp ?? 0
        opened.timestampOffset = found.session.timestampOffset ?? 0
      }
      output.say("closing \(local) → \(peer): FIN at seq \(sendNext), ack \(receiveNext)")
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      try opened.activeClose(timeout: timeout)
      if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
      output.drawLadder(opened)
      let peerState = KernelTransport.kernelState(of: peer, peer: local, diag: try? InetDiag(), connectionSeen: true)
      var message = "closed: we are in \(opened.state)"
      message += opened.state == .timeWait ? " (a real stack would wait 2·MSL here; we stop now)" : ""
      if let peerState { message += "; the peer's socket: \(peerState == "CLOSED" ? "gone (CLOSED)" : peerState)" }
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
