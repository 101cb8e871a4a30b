import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

/// Runs `/bin/sh -c command` as a child of the calling thread (so it starts in that thread's
/// network namespace), in `directory`, with its output captured. Bounded: after `timeoutMilliseconds`
/// the child (ours, by pid) gets SIGKILL.
public enum ScriptShell {
  public struct Outcome: Sendable {
    /// The exit status, or 128 + signal when killed.
    public var status: Int32
    /// stdout and stderr together (at most 64 KiB).
    public var output: String
    public var timedOut: Bool
  }

  public static func shell(
    _ command: String, directory: String, environment: [String], timeoutMilliseconds: Int
  ) throws(SocketError) -> Outcome {
    let (readEnd, writeEnd): (Int32, Int32)
    switch ScriptSockets.pipe(nonBlocking: false) {
    case .success(let pair): (readEnd, writeEnd) = pair
    case .failure(let error): throw SocketError.system(operation: "pipe2", error)
    }
    defer { _ = system_close(readEnd) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    _ = crawsocket_spawn_addchdir(&actions, directory)
    // Nothing but stdin, stdout and stderr: the process's other descriptors are not close-on-exec
    // (a script's sockets are made as the script says), and a shell that inherited another
    // script's socket (`run --parallel`) would keep it open after that script's close(), so its
    // FIN or RST would wait for the shell to exit (kernel fact 32).
    _ = crawsocket_spawn_addclosefrom(&actions, 3)
    let arguments = commandLine(command)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    guard let program = argv.first.flatMap({ $0 }), !argv.dropLast().contains(where: { $0 == nil }),
      !envp.dropLast().contains(where: { $0 == nil })
    else {
      _ = system_close(writeEnd)
      throw SocketError.system(operation: "strdup", .noMemory)
    }
    let spawned = argv.withUnsafeMutableBufferPointer { arguments -> CInt in
      envp.withUnsafeMutableBufferPointer { environment -> CInt in
        guard let argumentBase = arguments.baseAddress, let environmentBase = environment.baseAddress else { return ENOMEM }
        return system_posix_spawn(&pid, program, &actions, nil, argumentBase, environmentBase)
      }
    }
    _ = system_close(writeEnd)
    guard spawned == 0 else { throw SocketError.system(operation: "posix_spawn(/bin/sh)", Errno(rawValue: spawned)) }

    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: .milliseconds(timeoutMilliseconds))
    var timedOut = false
    var open = true
    while open {
      let left = clock.now.duration(to: deadline)
      if left <= .zero {
        timedOut = true
        _ = system_kill(pid, SIGKILL)
        break
      }
      let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
      var entry = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
      let ready = system_poll(&entry, 1, milliseconds)
      if ready <= 0 { continue }
      let count = chunk.withUnsafeMutableBytes { system_read(readEnd, $0.baseAddress, $0.count) }
      if count < 0, system_errno() == EINTR { continue }
      if count <= 0 { open = false; break }
      if output.count < 65_536 { output.append(contentsOf: chunk[..<count]) }
    }
    var status: CInt = 0
    while system_waitpid(pid, &status, 0) == -1 {
      guard system_errno() == EINTR else { break }
    }
    let code: Int32 = crawsocket_wifexited(status) != 0
      ? crawsocket_wexitstatus(status) : 128 + crawsocket_wtermsig(status)
    return Outcome(status: code, output: String(decoding: output, as: UTF8.self), timedOut: timedOut)
  }

  /// What is spawned for `command`. Under setpriv --pdeathsig KILL when it is there: if tcpcraft
  /// dies (even by SIGKILL) while a command runs, the shell dies too. That alone leaves the
  /// shell's own children (dash forks `sleep 7` rather than exec it) running, orphaned, in the
  /// script's namespace. So, when we may make one (root, or root in our own user namespace), the
  /// shell is the first process of a PID namespace of its own (`unshare --pid --fork
  /// --kill-child`): when it dies, or `unshare` dies (killed with us, or on our timeout), the
  /// kernel kills every process left in that namespace. Kernel fact 29.
  static func commandLine(_ command: String) -> [String] {
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { system_access($0) }
    let unshare = system_geteuid() == 0 ? ["/usr/bin/unshare", "/bin/unshare"].first { system_access($0) } : nil
    guard let unshare else { return (setpriv.map { [$0, "--pdeathsig", "KILL", "--"] } ?? []) + ["/bin/sh", "-c", command] }
    // In the PID namespace the command's shell would be pid 1, its `$PPID` 0, while the
    // corpus's set_sysctls.py names its restore file after PACKETDRILL_PID and a later command
    // runs `/tmp/sysctl_restore_${PPID}.sh`: a pid-1 shell of our own runs the command's shell as
    // its child, so `$PPID` is 1 there, and PACKETDRILL_PID (when given) is made 1 to match.
    let wrapper = "[ -z \"${PACKETDRILL_PID:-}\" ] || export PACKETDRILL_PID=$$; /bin/sh -c \"$1\"; exit $?"
    return (setpriv.map { [$0, "--pdeathsig", "KILL", "--"] } ?? [])
      + [unshare, "--pid", "--fork", "--kill-child=SIGKILL", "--", "/bin/sh", "-c", wrapper, "sh", command]
  }
}
