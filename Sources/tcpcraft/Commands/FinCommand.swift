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
      The 4-way close of a session saved by `tcpcraft handshake`: FIN → ACK (FIN_WAIT_1 →
      FIN_WAIT_2), then the peer's FIN → our ACK (TIME_WAIT). HOST:PORT (and --sport) pick the
      session; without them there must be exactly one (several are listed, exit 2). --seq and --ack
      override what was saved. Without a saved session, give HOST:PORT, --sport, --seq and --ack.
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
    // The session, if any: found, locked (one fin at a time), validated.
    var claimed: Claimed?
    var ignored = 0
    do throws(SessionError) {
      switch try claimSession(remote: remote, sourcePort: sourcePort) {
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
        // Never a FIN from a connection that was never established, nor from an address that
        // is not ours for that peer.
        guard session.state == TCPState.established.description else {
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
              + "\(session.remoteAddress) (\(IPv4Text.format(route.source))); nothing sent")
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
        let route = try KernelTransport.route(to: remote.address)
        local = Endpoint(address: route.source, port: sourcePort)
        peer = Endpoint(address: remote.address, port: remote.port)
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
      // Our own guard for the close, whether or not the holder is still alive.
      let opened = try Flow.open(
        to: peer, sourcePort: local.port, sourceAddress: local.address, guardResets: true,
        state: .established, initialSendSequence: iss, sendNext: sendNext, receiveNext: receiveNext,
        initialReceiveSequence: irs)
      flow = opened
      if let claimed, claimed.session.timestamps == true {
        opened.timestampsEnabled = true
        opened.peerTimestamp = claimed.session.peerTimestamp ?? 0
        opened.timestampOffset = claimed.session.timestampOffset ?? 0
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
        failure += "; the session is kept: retry with `tcpcraft fin \(claimed.session.remoteAddress):\(claimed.session.remotePort) --sport \(claimed.session.localPort)`"
        claimed.release()
      }
      output.result(ok: false, command: "fin", flow: flow, message: failure)
      return 1
    }
  }

  /// A session this fin holds the lock of.
  struct Claimed {
    var directory: SafeDirectory
    var name: String
    var session: Session
    /// The locked descriptor (open while we work) and what it is.
    var descriptor: CInt
    var file: FileStatus

    func release() { close(descriptor) }
  }

  enum Claim {
    /// No session to use; `skipped` files were ignored (not the user's, or not valid).
    case none(skipped: Int)
    case claimed(Claimed)
    case ambiguous([(name: String, session: Session)])
  }

  /// Finds the session to close and locks it (`flock`, exclusive, not waiting): a second fin on
  /// the same session is refused while the first runs.
  static func claimSession(remote: HostPort?, sourcePort: UInt16?) throws(SessionError) -> Claim {
    guard let directory = try SessionStore.open(create: false) else { return .none(skipped: 0) }
    let (sessions, skipped) = SessionStore.all(in: directory)
    let candidates = SessionStore.matching(sessions, remote: remote, localPort: sourcePort)
    if candidates.count > 1 { return .ambiguous(candidates) }
    guard let chosen = candidates.first else { return .none(skipped: skipped.count) }
    let fd: CInt
    do throws(FileSafetyError) {
      guard let opened = try directory.openRegularFile(chosen.name) else { return .none(skipped: skipped.count) }
      fd = opened
    } catch {
      throw SessionError(error.description)
    }
    guard SafeFile.tryLockExclusive(fd) else {
      close(fd)
      throw SessionError("another `tcpcraft fin` is closing \(chosen.session.listing) right now")
    }
    // Locked: re-read what we locked, and make sure it is still the file of that name (a fin that
    // finished meanwhile removed it).
    guard let file = SafeFile.status(of: fd), let current = directory.status(of: chosen.name),
      current.device == file.device, current.inode == file.inode,
      let bytes = try? SafeFile.readFromStart(fd, limit: 65_536, path: chosen.name)
    else {
      close(fd)
      throw SessionError("\(chosen.session.listing) was closed by another `tcpcraft fin` meanwhile")
    }
    switch SessionStore.decode(bytes, name: chosen.name) {
    case .success(let session):
      return .claimed(Claimed(directory: directory, name: chosen.name, session: session, descriptor: fd, file: file))
    case .failure(let error):
      close(fd)
      throw error
    }
  }
}
