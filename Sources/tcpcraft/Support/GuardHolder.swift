import Foundation
import PacketKit
import RawSocket
import TCPScript

/// The RST guard that outlives `tcpcraft handshake`.
///
/// An owner nf_tables table lives exactly as long as the netlink socket that created it (kernel
/// fact 3), so `handshake` starts a small detached process of the same binary —
/// `tcpcraft __hold-guard ...`, in its own session (`setsid`) — that installs the guard, says
/// `ready` on a pipe, and then just waits. It exits, and the kernel drops the table with it, when:
/// - `tcpcraft fin` has closed the connection (it removes the session file and sends SIGTERM);
/// - the session file has not been touched for `--hold` seconds (the idle timeout);
/// - it is killed in any way, SIGKILL included: no firewall state is ever left behind.
enum GuardHolder {
  /// The hidden subcommand's name.
  static let command = "__hold-guard"

  /// Starts the holder for the flow `local` → `remote` and waits until its guard is in place.
  /// Returns its pid.
  static func spawn(local: Endpoint, remote: Endpoint, hold: Double, sessionPath: String) throws(ScriptError) -> Int32 {
    guard let executable = executablePath() else {
      throw .system(step: "starting the guard holder", description: "cannot find our own executable (/proc/self/exe)")
    }
    let arguments = [
      executable, command, "--src", local.address.description, "--sport", String(local.port),
      "--dst", remote.address.description, "--dport", String(remote.port),
      "--hold", String(hold), "--session", sessionPath,
    ]
    var pipeEnds: [Int32] = [0, 0]
    guard pipe(&pipeEnds) == 0 else {
      throw .system(step: "starting the guard holder", description: "pipe: \(String(cString: strerror(errno)))")
    }
    let readEnd = pipeEnds[0]
    let writeEnd = pipeEnds[1]
    _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
    _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
    defer { close(readEnd) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    // Nothing else of ours (a caller's pipes above all) may stay open in the long-lived holder:
    // mark every descriptor above stderr close-on-exec before spawning.
    if let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
      for name in names {
        if let fd = Int32(name), fd > 2 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
      }
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    // POSIX_SPAWN_SETSID (0x80): its own session, no controlling terminal, no job-control signals.
    // POSIX_SPAWN_SETSIGDEF | SETSIGMASK: a clean signal state.
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGTERM)
    sigaddset(&defaults, SIGINT)
    sigaddset(&defaults, SIGHUP)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setflags(&attributes, Int16(0x80 | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    var pid: pid_t = 0
    let cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    let status = posix_spawn(&pid, executable, &actions, &attributes, cArguments, environ)
    close(writeEnd)
    guard status == 0 else {
      throw .system(step: "starting the guard holder", description: "posix_spawn: \(String(cString: strerror(status)))")
    }
    // Wait (bounded) for "ready" or an error line.
    let reply = readLine(from: readEnd, timeoutMilliseconds: 5000)
    if reply.hasPrefix("ready") { return pid }
    kill(pid, SIGKILL)
    var exitStatus: Int32 = 0
    waitpid(pid, &exitStatus, 0)
    if reply.hasPrefix("privileges: ") {
      throw .privileges(String(reply.dropFirst("privileges: ".count)))
    }
    throw .system(
      step: "installing the RST guard",
      description: reply.isEmpty ? "the guard holder did not start within 5 s" : reply)
  }

  /// Stops the holder `pid` if it is still ours (its command line names `__hold-guard`).
  static func stop(pid: Int32) {
    guard pid > 0, isHolder(pid: pid) else { return }
    kill(pid, SIGTERM)
  }

  /// Whether `pid` is a live guard holder of ours.
  static func isHolder(pid: Int32) -> Bool {
    guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
    let parts = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    return parts.count > 1 && parts[1] == command
  }

  /// The holder itself: `tcpcraft __hold-guard --src A --sport P --dst B --dport Q --hold S --session PATH`.
  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    do {
      arguments = try Arguments(
        argv, command: command, valued: ["--src", "--sport", "--dst", "--dport", "--hold", "--session"], switches: [])
    } catch {
      Terminal.out("error: \(error.description)")
      return 2
    }
    guard let source = arguments.value("--src").flatMap({ IPv4Address($0)?.rawValue }),
      let sourcePort = arguments.value("--sport").flatMap({ UInt16($0) }),
      let destination = arguments.value("--dst").flatMap({ IPv4Address($0)?.rawValue }),
      let destinationPort = arguments.value("--dport").flatMap({ UInt16($0) }),
      let hold = arguments.value("--hold").flatMap({ Double($0) }), hold > 0,
      let sessionPath = arguments.value("--session")
    else {
      Terminal.out("error: \(command): missing or bad arguments")
      return 2
    }
    let missing = Capabilities.missing([.netRaw, .netAdmin])
    if !missing.isEmpty {
      Terminal.out("privileges: " + CapabilityError(missing: missing, executablePath: Capabilities.executablePath()).description)
      return 1
    }
    let rstGuard: RSTGuard
    do {
      rstGuard = try RSTGuard(
        sourcePort: sourcePort, sourceAddress: source, destinationAddress: destination,
        destinationPort: destinationPort)
    } catch {
      Terminal.out("error: installing the RST guard (nf_tables): \(error.description)")
      return 1
    }
    Terminal.out("ready \(rstGuard.tableName)")
    // Nobody reads our stdout after "ready": point it at /dev/null so a closed pipe cannot hurt.
    let devNull = open("/dev/null", O_WRONLY)
    if devNull >= 0 {
      dup2(devNull, 1)
      close(devNull)
    }
    // Wait, bounded by the idle timeout, re-checked every 200 ms. The limit on passes is a
    // safety net: a day of 200 ms naps.
    let started = SessionStore.now
    for _ in 0..<432_000 {
      var nap = timespec(tv_sec: 0, tv_nsec: 200_000_000)
      nanosleep(&nap, nil)
      guard let attributes = try? FileManager.default.attributesOfItem(atPath: sessionPath) else { break }
      let touched = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? started
      if SessionStore.now > max(started, touched) + hold { break }
    }
    rstGuard.close()
    return 0
  }

  private static func executablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

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
      let count = read(fd, &chunk, chunk.count)
      if count < 0 && errno == EINTR { continue }
      if count <= 0 { break }
      collected.append(contentsOf: chunk[0..<count])
      if collected.contains(10) { break }
    }
    let line = collected.split(separator: 10, omittingEmptySubsequences: false).first ?? []
    return String(decoding: line, as: UTF8.self)
  }
}
