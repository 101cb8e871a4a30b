import Foundation
import PacketKit
import RawSocket
import Synchronization
import TCPScript

/// The RST guard that outlives `tcpcraft handshake`.
///
/// An owner nf_tables table lives exactly as long as the netlink socket that created it (kernel
/// fact 3), so `handshake` starts a small detached process of the same binary —
/// `tcpcraft __hold-guard ...`, in its own session (`setsid`) — that installs the guard, says
/// `ready` on a pipe, and then just waits. Its standard input is a *lifeline*: a pipe whose
/// other end only `handshake` holds. `handshake` writes `keep` on it once the connection is
/// ESTABLISHED and the session saved; if the lifeline reaches end of file first (handshake failed,
/// was interrupted, or was killed, SIGKILL included) the holder gives up at once.
///
/// The holder exits, and the kernel drops the table with it, when:
/// - `tcpcraft fin` has closed the connection (it signals the holder through a pidfd);
/// - the session file has not been touched for `--hold` seconds (the idle timeout), or is gone;
/// - `handshake` died before the connection was established (the lifeline);
/// - it gets SIGTERM, SIGINT or SIGHUP; or it is killed in any way, SIGKILL included: no firewall
///   state is ever left behind.
/// Whenever it exits on its own it removes its session file (if still its own: same token).
enum GuardHolder {
  /// The hidden subcommand's name.
  static let command = "__hold-guard"

  /// A started holder: its pid and the write end of its lifeline.
  struct Started {
    var pid: Int32
    var lifeline: CInt

    /// Tells the holder the connection is established: it keeps the guard after we exit.
    func release() {
      let word = Array("keep\n".utf8)
      let pipe = FileDescriptor(rawValue: lifeline)
      try? pipe.writeAll(word)
      try? pipe.close()
    }

    /// Drops the lifeline without releasing: the holder cleans up and exits.
    func abandon() {
      try? FileDescriptor(rawValue: lifeline).close()
      ProcessHandle.reap(child: pid, timeoutMilliseconds: 2000)
    }
  }

  /// Starts the holder for the flow `local` → `remote` and waits until its guard is in place.
  static func spawn(
    local: Endpoint, remote: Endpoint, hold: Double, sessionPath: String, token: String
  ) throws(ScriptError) -> Started {
    guard let executable = executablePath() else {
      throw .system(step: "starting the guard holder", description: "cannot find our own executable (/proc/self/exe)")
    }
    let arguments = [
      executable, command, "--src", local.address.description, "--sport", String(local.port),
      "--dst", remote.address.description, "--dport", String(remote.port),
      "--hold", String(hold), "--session", sessionPath, "--token", token,
    ]
    let ready: (read: CInt, write: CInt)
    let lifeline: (read: CInt, write: CInt)
    do throws(SocketError) {
      ready = try ChildProcess.pipe()
      lifeline = try ChildProcess.pipe()
    } catch {
      throw .system(step: "starting the guard holder", description: error.description)
    }
    defer { closeDescriptor(ready.read) }
    let pid: Int32
    do throws(SocketError) {
      pid = try ChildProcess.spawnDetached(arguments, standardInput: lifeline.read, standardOutput: ready.write)
    } catch {
      closeDescriptor(ready.write)
      closeDescriptor(lifeline.read)
      closeDescriptor(lifeline.write)
      throw .system(step: "starting the guard holder", description: error.description)
    }
    closeDescriptor(ready.write)
    closeDescriptor(lifeline.read)
    let started = Started(pid: pid, lifeline: lifeline.write)
    // Wait (bounded) for "ready" or an error line.
    let reply = readLine(from: ready.read, timeoutMilliseconds: 5000)
    if reply.hasPrefix("ready") { return started }
    // Not ready: dropping the lifeline ends it; a pidfd makes sure the signal reaches only it.
    if let handle = ProcessHandle.open(pid: pid) {
      try? handle.send(SIGKILL)
      handle.close()
    }
    started.abandon()
    if reply.hasPrefix("privileges: ") {
      throw .privileges(String(reply.dropFirst("privileges: ".count)))
    }
    throw .system(
      step: "installing the RST guard",
      description: reply.isEmpty ? "the guard holder did not start within 5 s" : Terminal.sanitized(reply))
  }

  /// The live holder of `session`, pinned by a pidfd and proven ours: its command line is
  /// `tcpcraft __hold-guard ... --token <this session's token>` and it runs as our user.
  static func holder(of session: Session) -> ProcessHandle? {
    guard session.holderPID > 1, let token = session.token, let handle = ProcessHandle.open(pid: session.holderPID) else {
      return nil
    }
    guard let identity = handle.identity(), identity.uid == SafeFile.realUser,
      identity.arguments.count > 2, identity.arguments[1] == command,
      let tokenIndex = identity.arguments.firstIndex(of: "--token"), tokenIndex + 1 < identity.arguments.count,
      identity.arguments[tokenIndex + 1] == token
    else {
      handle.close()
      return nil
    }
    return handle
  }

  /// Stops `session`'s holder if it is provably ours (see `holder(of:)`); never a bare pid.
  @discardableResult
  static func stop(_ session: Session) -> Bool {
    guard let handle = holder(of: session) else { return false }
    defer { handle.close() }
    return (try? handle.send(SIGTERM)) != nil
  }

  /// Set by SIGTERM/SIGINT/SIGHUP in the holder.
  static let stopRequested = Atomic<Bool>(false)

  /// The holder itself:
  /// `tcpcraft __hold-guard --src A --sport P --dst B --dport Q --hold S --session PATH --token T`.
  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    do {
      arguments = try Arguments(
        argv, command: command, valued: ["--src", "--sport", "--dst", "--dport", "--hold", "--session", "--token"],
        switches: [])
    } catch {
      Terminal.out("error: \(error.description)")
      return 2
    }
    // Addresses of one family, IPv4 or IPv6 (the guard is an `ip` or an `ip6` table).
    guard let source = arguments.value("--src").flatMap({ IPAddress($0) }),
      let sourcePort = arguments.value("--sport").flatMap({ UInt16($0) }),
      let destination = arguments.value("--dst").flatMap({ IPAddress($0) }), destination.family == source.family,
      let destinationPort = arguments.value("--dport").flatMap({ UInt16($0) }),
      let hold = arguments.value("--hold").flatMap({ Double($0) }), hold > 0, hold.isFinite,
      let sessionPath = arguments.value("--session"), let slash = sessionPath.lastIndex(of: "/"),
      let token = arguments.value("--token")
    else {
      Terminal.out("error: \(command): missing or bad arguments")
      return 2
    }
    let directoryPath = String(sessionPath[..<slash])
    let sessionName = String(sessionPath[sessionPath.index(after: slash)...])
    let missing = Capabilities.missing([.netRaw, .netAdmin])
    if !missing.isEmpty {
      Terminal.out("privileges: " + CapabilityError(missing: missing, executablePath: Capabilities.executablePath()).description)
      return 1
    }
    let directory: SafeDirectory
    do throws(FileSafetyError) {
      directory = try SafeDirectory.openPrivate(directoryPath, owner: SessionStore.owner, create: false)
    } catch {
      Terminal.out("error: session directory: \(error.description)")
      return 1
    }
    for signalNumber in [SIGTERM, SIGINT, SIGHUP] {
      try? SignalDisposition.handle(signalNumber) { _ in GuardHolder.stopRequested.store(true, ordering: .relaxed) }
    }
    let rstGuard: RSTGuard
    do {
      rstGuard = try RSTGuard(
        sourcePort: sourcePort, sourceAddress: source.ipv4?.rawValue, destinationAddress: destination.ipv4?.rawValue,
        destinationPort: destinationPort, sourceIPv6: source.ipv6?.octets, destinationIPv6: destination.ipv6?.octets)
    } catch {
      Terminal.out("error: installing the RST guard (nf_tables): \(error.description)")
      return 1
    }
    Terminal.out("ready \(rstGuard.tableName)")
    // Nobody reads our stdout after "ready": point it at /dev/null so a closed pipe cannot hurt.
    if let devNull = try? FileDescriptor.openNullDevice() {
      try? devNull.duplicate(onto: .standardOutput)
      try? devNull.close()
    }
    let released = waitForRelease(directory: directory, name: sessionName, token: token, hold: hold)
    if released { waitWhileUsed(directory: directory, name: sessionName, token: token, hold: hold) }
    removeSession(directory: directory, name: sessionName, token: token)
    rstGuard.close()
    return 0
  }

  /// Until `handshake` writes `keep` (true) or its end of the lifeline closes (false).
  private static func waitForRelease(directory: SafeDirectory, name: String, token: String, hold: Double) -> Bool {
    var received: [UInt8] = []
    // The handshake is bounded by its own timeout; a day of 200 ms waits is a safety net.
    for _ in 0..<432_000 {
      if stopRequested.load(ordering: .relaxed) { return false }
      let ready = try? SocketDescriptor(rawValue: 0).poll(for: .readable, timeout: .milliseconds(200))
      guard let ready, !ready.isEmpty else { continue }
      var chunk = [UInt8](repeating: 0, count: 64)
      // EINTR is retried inside; an error or end of file is the lifeline gone.
      let count = (try? FileDescriptor.standardInput.read(into: &chunk)) ?? 0
      if count <= 0 { return false }
      received.append(contentsOf: chunk[0..<count])
      if String(decoding: received, as: UTF8.self).hasPrefix("keep") { return true }
      if received.count > 64 { return false }
    }
    return false
  }

  /// While the session file is there, ours, and touched within `hold` seconds.
  private static func waitWhileUsed(directory: SafeDirectory, name: String, token: String, hold: Double) {
    let started = SessionStore.now
    for _ in 0..<432_000 {
      SystemSleep.sleep(for: .milliseconds(200))
      if stopRequested.load(ordering: .relaxed) { return }
      guard let status = directory.status(of: name), status.isRegularFile else { return }
      if SessionStore.now > max(started, status.modified) + hold { return }
    }
  }

  /// Removes the session file if it is still this holder's (same token).
  private static func removeSession(directory: SafeDirectory, name: String, token: String) {
    guard let fd = try? directory.openRegularFile(name) else { return }
    defer { closeDescriptor(fd) }
    guard let opened = SafeFile.status(of: fd),
      let bytes = try? SafeFile.readFromStart(fd, limit: 65_536, path: name),
      case .success(let session) = SessionStore.decode(bytes, name: name), session.token == token
    else { return }
    directory.remove(name, ifStill: opened)
  }

  private static func executablePath() -> String? { Capabilities.executablePath() }

  /// Closes a raw descriptor through RawSocket's seam (errors ignored: it is gone either way).
  private static func closeDescriptor(_ fd: CInt) { try? FileDescriptor(rawValue: fd).close() }

  /// Reads up to a newline from `fd`, waiting at most `timeoutMilliseconds` in total.
  private static func readLine(from fd: Int32, timeoutMilliseconds: Int32) -> String {
    var collected: [UInt8] = []
    let deadline = SessionStore.now + Double(timeoutMilliseconds) / 1000
    for _ in 0..<1000 {
      let remaining = Int32(max(0, (deadline - SessionStore.now) * 1000))
      if remaining <= 0 { break }
      // RawSocket's poll retries EINTR for the time that is left.
      let ready = try? SocketDescriptor(rawValue: fd).poll(
        for: .readable, timeout: .milliseconds(Int64(remaining)))
      guard let ready, !ready.isEmpty else { break }
      var chunk = [UInt8](repeating: 0, count: 512)
      // EINTR is retried inside; an error or end of file ends the line.
      let count = (try? FileDescriptor(rawValue: fd).read(into: &chunk)) ?? 0
      if count <= 0 { break }
      collected.append(contentsOf: chunk[0..<count])
      if collected.contains(10) { break }
    }
    let line = collected.split(separator: 10, omittingEmptySubsequences: false).first ?? []
    return String(decoding: line, as: UTF8.self)
  }
}
