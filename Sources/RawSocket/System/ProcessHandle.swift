// Starting a helper process and signalling it only while it is provably the one we mean: a pidfd
// pins one process (a recycled pid is never signalled), and the caller checks what it pinned.
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

/// A process pinned by a pidfd (`pidfd_open(2)`): signals sent through it reach that process or
/// fail with `ESRCH`, never a later process that reused the pid.
public final class ProcessHandle {
  public let pid: Int32
  public let descriptor: CInt
  private var isClosed = false

  private init(pid: Int32, descriptor: CInt) {
    self.pid = pid
    self.descriptor = descriptor
  }

  deinit { close() }

  public func close() {
    guard !isClosed else { return }
    isClosed = true
    _ = system_close(descriptor)
  }

  /// Pins `pid`; nil when no such process (or it cannot be pinned).
  public static func open(pid: Int32) -> ProcessHandle? {
    guard pid > 1 else { return nil }
    let fd = system_pidfd_open(pid)
    guard fd >= 0 else { return nil }
    return ProcessHandle(pid: pid, descriptor: fd)
  }

  /// Whether no process `pid` exists: true only when the kernel says so (`pidfd_open` fails with
  /// `ESRCH`); any other failure answers false (the process may well be there).
  public static func isGone(pid: Int32) -> Bool {
    guard pid > 1 else { return false }
    let fd = system_pidfd_open(pid)
    if fd >= 0 {
      _ = system_close(fd)
      return false
    }
    return system_errno() == ESRCH
  }

  /// Whether the pinned process is still alive (signal 0 through the pidfd).
  public var isAlive: Bool { system_pidfd_send_signal(descriptor, 0) == 0 }

  /// Sends `signal` to the pinned process.
  public func send(_ signal: CInt) throws(SocketError) {
    guard system_pidfd_send_signal(descriptor, signal) == 0 else {
      throw .system(operation: "pidfd_send_signal", Errno(rawValue: system_errno()))
    }
  }

  /// The pinned process's command line (`/proc/PID/cmdline`, split at NULs) and real uid, read
  /// *after* pinning and confirmed with `isAlive` afterwards: while the pinned process lives its
  /// pid cannot be reused, so what was read belongs to it. Nil when it is gone.
  public func identity() -> (arguments: [String], uid: UInt32)? {
    guard let commandLine = readSmallFile("/proc/\(pid)/cmdline"),
      let status = readSmallFile("/proc/\(pid)/status")
    else { return nil }
    var uid: UInt32?
    for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
      uid = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
    }
    guard let uid, isAlive else { return nil }
    let arguments = commandLine.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
    return (arguments, uid)
  }

  /// Waits for our child `pid` to end (bounded by `timeoutMilliseconds`, polled every 10 ms);
  /// returns whether it was reaped.
  @discardableResult
  public static func reap(child pid: Int32, timeoutMilliseconds: Int = 0) -> Bool {
    var status: CInt = 0
    for _ in 0...max(0, timeoutMilliseconds / 10) {
      let result = system_waitpid(pid, &status, WNOHANG)
      if result == pid || (result < 0 && system_errno() == ECHILD) { return true }
      if result < 0 && system_errno() != EINTR { return false }
      SystemSleep.sleep(for: .milliseconds(10))
    }
    return false
  }
}

/// Starting a detached helper (the guard holder) through the syscall funnel.
public enum ChildProcess {
  /// Starts `arguments[0]` with `arguments` in a new session (`setsid`), stdin from
  /// `standardInput` (or /dev/null), stdout to `standardOutput`, stderr to /dev/null, default
  /// signal handling and an empty mask. Every other descriptor of ours is closed in the child.
  public static func spawnDetached(
    _ arguments: [String], standardInput: CInt?, standardOutput: CInt, environment: [String]? = nil
  ) throws(SocketError) -> Int32 {
    guard let executable = arguments.first else { throw .system(operation: "posix_spawn", .invalidArgument) }
    // Nothing else of ours may stay open in the long-lived child: mark every descriptor above
    // stderr close-on-exec (close_range(3, ~0, CLOSE_RANGE_CLOEXEC); /proc/self/fd otherwise).
    if system_close_range_cloexec(3) != 0 {
      let directory = system_open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      if directory >= 0 {
        for name in system_listDirectory(directory, limit: 65_536) ?? [] {
          if let fd = CInt(name), fd > 2 { _ = system_fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        _ = system_close(directory)
      }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let standardInput {
      posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    // POSIX_SPAWN_SETSID (0x80): its own session, no controlling terminal, no job-control signals.
    posix_spawnattr_setflags(&attributes, Int16(0x80 | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    let status: CInt
    if let environment {
      let cEnvironment: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
      defer { for pointer in cEnvironment { free(pointer) } }
      status = system_posix_spawn(&pid, executable, &actions, &attributes, cArguments, cEnvironment)
    } else {
      status = system_posix_spawn(&pid, executable, &actions, &attributes, cArguments, environ)
    }
    guard status == 0 else { throw .system(operation: "posix_spawn", Errno(rawValue: status)) }
    return pid
  }

  /// A pipe, both ends close-on-exec.
  public static func pipe() throws(SocketError) -> (read: CInt, write: CInt) {
    var ends: [CInt] = [-1, -1]
    guard system_pipe(&ends) == 0 else { throw .system(operation: "pipe2", Errno(rawValue: system_errno())) }
    return (ends[0], ends[1])
  }
}
