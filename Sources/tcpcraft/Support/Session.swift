import Foundation
import PacketKit
import RawSocket
import TCPScript

/// What `tcpcraft handshake` leaves for a later `tcpcraft fin`: the 4-tuple, the sequence
/// variables, and the process that holds the RST guard. Saved as JSON, one file a connection.
/// Addresses are text of either family (`127.0.0.1`, `::1`); `family` says which (`ipv4`,
/// `ipv6`; absent in sessions saved before IPv6: then IPv4).
struct Session: Codable, Equatable {
  var localAddress: String
  var localPort: UInt16
  var remoteAddress: String
  var remotePort: UInt16
  var interface: String
  var state: String
  /// Our ISN and SND.NXT; the peer's ISN and RCV.NXT.
  var initialSendSequence: UInt32
  var sendNext: UInt32
  var initialReceiveSequence: UInt32?
  var receiveNext: UInt32
  /// Timestamps negotiated (RFC 7323): TS.Recent and our clock's offset, to keep echoing.
  var timestamps: Bool? = nil
  var peerTimestamp: UInt32? = nil
  var timestampOffset: UInt32? = nil
  /// The guard holder's process id (`tcpcraft __hold-guard`), 0 when none.
  var holderPID: Int32
  /// How long the holder keeps the guard after the last use, in seconds.
  var holdSeconds: Double
  /// Seconds since the epoch.
  var createdAt: Double
  var updatedAt: Double
  /// A random secret of this session (32 hex digits), also on the holder's command line: the
  /// holder is signalled only if the process a pidfd pins carries it.
  var token: String? = nil
  /// `ipv4` or `ipv6` (nil: IPv4, a session saved before IPv6).
  var family: String? = nil
  /// `false` when the handshake showed no kernel socket owns the peer's end (a hand-driven peer
  /// such as `tcpcraft listen`): `fin` and `data` then say so from their first line, instead of
  /// the CLOSED that inet_diag reports for a 4-tuple no socket owns. `nil`: a kernel peer, a
  /// remote one, or a session saved before this field.
  var peerKernelSocket: Bool? = nil

  var local: Endpoint? {
    IPAddress(localAddress).map { Endpoint(address: $0, port: localPort) }
  }
  var remote: Endpoint? {
    IPAddress(remoteAddress).map { Endpoint(address: $0, port: remotePort) }
  }

  /// `127.0.0.1_8080_57273.json`, `::1_8080_57273.json`
  var fileName: String { "\(remoteAddress)_\(remotePort)_\(localPort).json" }

  /// `127.0.0.1:57273 → 127.0.0.1:8080 (ESTABLISHED, guard pid 1234)`, `[::1]:57273 → [::1]:8080 ...`.
  var listing: String {
    "\(local?.description ?? localAddress + ":\(localPort)") → \(remote?.description ?? remoteAddress + ":\(remotePort)") "
      + "(\(state), guard pid \(holderPID))"
  }

  /// `localAddress:localPort` or `[localAddress]:localPort`.
  var localText: String { local?.description ?? "\(localAddress):\(localPort)" }
  /// `remoteAddress:remotePort` or `[remoteAddress]:remotePort`: what `fin` and `data` take.
  var remoteText: String { remote?.description ?? "\(remoteAddress):\(remotePort)" }

  static let knownStates: Set<String> = Set(
    ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "SYN_RECV", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
     "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"])

  /// What is wrong with a session read from `name`, or nil when it may be used.
  func problem(readFrom name: String) -> String? {
    // Canonical text only (what a session writes), so that the file name is the 4-tuple's.
    guard let local = IPAddress(localAddress), let remote = IPAddress(remoteAddress),
      local.description == localAddress, remote.description == remoteAddress
    else { return "bad address" }
    guard local.family == remote.family, (family ?? "ipv4") == local.family.rawValue else { return "mixed address families" }
    guard localPort != 0, remotePort != 0 else { return "port 0" }
    guard name == fileName else { return "its name does not match its 4-tuple" }
    // Either spelling: `data` saves RFC 9293's (`CLOSE-WAIT`), older sessions Linux's.
    guard Session.knownStates.contains(state) || TCPState(name: state) != nil, state.count < 16 else { return "unknown state" }
    guard holderPID >= 0 else { return "bad holder pid" }
    guard holdSeconds.isFinite, holdSeconds > 0, holdSeconds <= 7 * 86_400 else { return "bad hold time" }
    guard createdAt.isFinite, updatedAt.isFinite else { return "bad times" }
    guard let token, token.count == 32, token.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
      return "missing or bad token"
    }
    guard !interface.isEmpty, interface.count < 32, !interface.contains("/") else { return "bad interface" }
    return nil
  }
}

/// A session store problem: one line for the user.
struct SessionError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The directory that holds session files, and reading/writing them.
///
/// Sessions belong to the invoking user: their directory is private to that user (0700, owned
/// by them, never reached through a link), and every file in it must be a regular file they own.
/// Under sudo the invoking user is `SUDO_UID`; root creates the directory and files for them.
enum SessionStore {
  /// The user sessions belong to: the sudo caller when root runs under sudo, else the real uid.
  static var owner: UInt32 {
    let real = SafeFile.realUser
    if SafeFile.effectiveUser == 0, real == 0, let text = ProcessInfo.processInfo.environment["SUDO_UID"],
      let sudoUID = UInt32(text), sudoUID != 0, sudoUID != UInt32.max
    {
      return sudoUID
    }
    return real
  }

  /// `$TCPCRAFT_SESSION_DIR`, else `$XDG_RUNTIME_DIR/tcpcraft`, else `/run/tcpcraft` for root,
  /// else `/tmp/tcpcraft-<uid>`. Whichever it is, it must be the owner's alone (see `open`).
  static var directory: String {
    let environment = ProcessInfo.processInfo.environment
    if let explicit = environment["TCPCRAFT_SESSION_DIR"], !explicit.isEmpty { return explicit }
    if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") { return runtime + "/tcpcraft" }
    let owner = owner
    if owner == 0, SafeFile.isWritable("/run") { return "/run/tcpcraft" }
    return "/tmp/tcpcraft-\(owner)"
  }

  /// Opens the owner's session directory (creating it when asked). Nil when it does not exist
  /// and `create` is false.
  static func open(create: Bool) throws(SessionError) -> SafeDirectory? {
    let path = directory
    do throws(FileSafetyError) {
      return try SafeDirectory.openPrivate(path, owner: owner, create: create)
    } catch {
      if !create, error.code == ENOENT { return nil }
      throw SessionError(
        "session directory \(Terminal.sanitized(path)): \(error.isRefusal ? "refused, " : "")\(error.reason)"
          + (error.isRefusal ? " (it must be a directory of uid \(owner) alone, mode 700; set TCPCRAFT_SESSION_DIR to use another)" : ""))
    }
  }

  static func encode(_ session: Session) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return Array((try? encoder.encode(session)) ?? Data())
  }

  /// Saves `session` (atomically; with `exclusive`, only if no file for its 4-tuple exists).
  static func save(_ session: Session, in directory: SafeDirectory, exclusive: Bool = false) throws(SessionError) {
    var updated = session
    updated.updatedAt = now
    do throws(FileSafetyError) {
      try directory.write(encode(updated), to: session.fileName, exclusive: exclusive)
    } catch {
      throw SessionError("saving the session: \(error.description)")
    }
  }

  /// Decodes and validates the bytes of session file `name`.
  static func decode(_ bytes: [UInt8], name: String) -> Result<Session, SessionError> {
    guard let session = try? JSONDecoder().decode(Session.self, from: Data(bytes)) else {
      return .failure(SessionError("\(Terminal.sanitized(name)): not a session file"))
    }
    if let problem = session.problem(readFrom: name) {
      return .failure(SessionError("\(Terminal.sanitized(name)): \(problem)"))
    }
    return .success(session)
  }

  /// Reads and validates `name`: nil when missing, an error when it is not a regular file of the
  /// owner or not a valid session.
  static func load(_ name: String, in directory: SafeDirectory) -> Result<Session, SessionError>? {
    let bytes: [UInt8]?
    do throws(FileSafetyError) {
      bytes = try directory.read(name)
    } catch {
      return .failure(SessionError(error.description))
    }
    guard let bytes else { return nil }
    return decode(bytes, name: name)
  }

  /// Every valid session, newest first, and the files that were skipped (with why).
  static func all(in directory: SafeDirectory) -> (sessions: [(name: String, session: Session)], skipped: [SessionError]) {
    var found: [(String, Session)] = []
    var skipped: [SessionError] = []
    for name in directory.names() where name.hasSuffix(".json") && !name.hasPrefix(".") {
      switch load(name, in: directory) {
      case .success(let session)?: found.append((name, session))
      case .failure(let error)?: skipped.append(error)
      case nil: continue
      }
    }
    return (found.sorted { $0.1.updatedAt > $1.1.updatedAt }, skipped)
  }

  /// Sessions matching `remote` (and `localPort` when given); all of them when `remote` is nil.
  static func matching(
    _ sessions: [(name: String, session: Session)], remote: HostPort?, localPort: UInt16?
  ) -> [(name: String, session: Session)] {
    sessions.filter { entry in
      if let remote {
        guard entry.session.remoteAddress == remote.ip.description,
          entry.session.remotePort == remote.port
        else { return false }
      }
      if let localPort, entry.session.localPort != localPort { return false }
      return true
    }
  }

  /// A session this process holds the lock of (fin, data: one at a time per session).
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
  static func claim(remote: HostPort?, localPort sourcePort: UInt16?) throws(SessionError) -> Claim {
    guard let directory = try open(create: false) else { return .none(skipped: 0) }
    let (sessions, skipped) = all(in: directory)
    let candidates = matching(sessions, remote: remote, localPort: sourcePort)
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
      try? FileDescriptor(rawValue: fd).close()
      throw SessionError("another tcpcraft (`fin` or `data`) is using \(chosen.session.listing) right now")
    }
    // Locked: re-read what we locked, and make sure it is still the file of that name (a fin that
    // finished meanwhile removed it).
    guard let file = SafeFile.status(of: fd), let current = directory.status(of: chosen.name),
      current.device == file.device, current.inode == file.inode,
      let bytes = try? SafeFile.readFromStart(fd, limit: 65_536, path: chosen.name)
    else {
      try? FileDescriptor(rawValue: fd).close()
      throw SessionError("\(chosen.session.listing) was closed or changed by another tcpcraft meanwhile; try again")
    }
    switch decode(bytes, name: chosen.name) {
    case .success(let session):
      return .claimed(Claimed(directory: directory, name: chosen.name, session: session, descriptor: fd, file: file))
    case .failure(let error):
      try? FileDescriptor(rawValue: fd).close()
      throw error
    }
  }

  static var now: Double { Date().timeIntervalSince1970 }
}
