#if canImport(Glibc)
import Glibc
#endif
import CRawSocket
import Synchronization

/// Why the kernel's drop reasons cannot be read.
public struct TraceFSError: Error, Sendable, CustomStringConvertible {
  /// What was being done (`mounting tracefs`, `creating the instance NAME`).
  public var step: String
  public var errno: Errno

  public var description: String {
    var text = "\(step): \(errno)"
    if step.hasPrefix("mounting tracefs") && (errno == .notPermitted || errno == .permissionDenied) {
      text += " (tracefs needs CAP_SYS_ADMIN on the host; it cannot be mounted inside a user namespace)"
    }
    return text
  }
}

/// The `skb:kfree_skb` tracepoint in a tracefs *instance* of our own: every packet the kernel
/// drops, with the reason it names (`TCP_CSUM`, `NO_SOCKET`, `IP_INHDR`...), the function that
/// dropped it and the thread whose softirq ran at the time.
///
/// tracefs is mounted nowhere: `fsopen`/`fsmount` give a detached mount that only our
/// descriptors reach (no mount table, no path anyone could plant, nothing to unmount). Of the
/// kernel's tracing state only one instance is touched, `tcpcraft-PID-N` under `instances/`, made
/// here and removed by `close()`; the host's top-level trace buffer, tracer and events are never
/// written. A run killed before `close()` leaves its instance: `start` removes instances of that
/// pattern whose process is gone. The instance's clock is `boot` (`CLOCK_BOOTTIME`, as
/// `SystemClock.bootTime()`), so events can be matched to windows measured here. Needs
/// CAP_SYS_ADMIN over the initial user namespace.
public final class DropTrace: @unchecked Sendable {
  /// The instance's name under `instances/`.
  public let instanceName: String
  private var mount: CInt
  private var instances: CInt
  private var instance: CInt
  private var closed = false
  /// The prefix of our instances' names (the process id and a serial number follow).
  public static let prefix = "tcpcraft-"
  private static let serial = Atomic<Int>(0)

  private init(instanceName: String, mount: CInt, instances: CInt, instance: CInt) {
    self.instanceName = instanceName
    self.mount = mount
    self.instances = instances
    self.instance = instance
  }

  /// Mounts tracefs (detached), makes the instance `tcpcraft-PID-N` (`suffix` appended when given)
  /// and enables `skb:kfree_skb` in it for IPv4 and IPv6 packets (`protocol` 0x0800, 0x86DD).
  public static func start(suffix: String = "") throws(TraceFSError) -> DropTrace {
    let mount = system_tracefsMount()
    guard mount >= 0 else { throw TraceFSError(step: "mounting tracefs", errno: Errno(rawValue: system_errno())) }
    let instances = system_openat(mount, "instances", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0)
    guard instances >= 0 else {
      let error = Errno(rawValue: system_errno())
      _ = system_close(mount)
      throw TraceFSError(step: "opening tracefs instances/", errno: error)
    }
    removeStale(instances: instances)
    // tcpcraft-PID-N: N counts this process's tracers, so two at once (threads, tests) never share one.
    var name = ""
    var made: CInt = -1
    for _ in 0..<16 {
      name = prefix + String(system_getpid()) + "-" + String(serial.add(1, ordering: .relaxed).newValue) + suffix
      made = system_mkdirat(instances, name, 0o700)
      if made == 0 || system_errno() != EEXIST { break }
    }
    guard made == 0 else {
      let error = Errno(rawValue: system_errno())
      _ = system_close(instances)
      _ = system_close(mount)
      throw TraceFSError(step: "creating the tracefs instance \(name)", errno: error)
    }
    let instance = system_openat(instances, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0)
    let trace = DropTrace(instanceName: name, mount: mount, instances: instances, instance: instance)
    guard instance >= 0 else {
      let error = Errno(rawValue: system_errno())
      trace.close()
      throw TraceFSError(step: "opening the tracefs instance \(name)", errno: error)
    }
    let settings: [(String, String)] = [
      ("trace_clock", "boot"),
      ("events/skb/kfree_skb/filter", "protocol == 2048 || protocol == 34525"),
      ("events/skb/kfree_skb/enable", "1"),
    ]
    for (file, value) in settings {
      do throws(Errno) {
        try trace.write(value, to: file)
      } catch {
        trace.close()
        throw TraceFSError(step: "writing \(value) to \(file) in the tracefs instance \(name)", errno: error)
      }
    }
    return trace
  }

  /// The instance's `trace` file as it stands (events since `start`, oldest first; reading does
  /// not consume them). At most `limit` bytes.
  public func text(limit: Int = 16 << 20) throws(Errno) -> String {
    guard !closed else { throw .badFileDescriptor }
    let fd = system_openat(instance, "trace", O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0)
    guard fd >= 0 else { throw Errno(rawValue: system_errno()) }
    defer { _ = system_close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
      let count = try valueOrErrno(retryOnInterrupt: true) {
        chunk.withUnsafeMutableBytes { system_read(fd, $0.baseAddress, $0.count) }
      }.get()
      if count <= 0 { break }
      bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Disables the event, removes the instance and lets the mount go. Idempotent.
  public func close() {
    guard !closed else { return }
    closed = true
    if instance >= 0 {
      try? write("0", to: "events/skb/kfree_skb/enable")
      _ = system_close(instance)
      instance = -1
    }
    if instances >= 0 {
      _ = system_unlinkat(instances, instanceName, AT_REMOVEDIR)
      _ = system_close(instances)
      instances = -1
    }
    if mount >= 0 {
      _ = system_close(mount)
      mount = -1
    }
  }

  deinit { close() }

  /// Whether the instance still exists (for tests: `close()` removed it).
  public static func instanceExists(_ name: String) -> Bool {
    let mount = system_tracefsMount()
    guard mount >= 0 else { return false }
    defer { _ = system_close(mount) }
    let fd = system_openat(mount, "instances/" + name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0)
    guard fd >= 0 else { return false }
    _ = system_close(fd)
    return true
  }

  /// The calling thread's id: what the events of drops processed in its softirq carry.
  ///
  /// The corresponding C function is `gettid(2)`.
  public static func currentThreadID() -> Int32 { system_gettid() }

  /// Now on the instance's clock (`CLOCK_BOOTTIME`), in nanoseconds.
  public static func now() -> UInt64 {
    let time = SystemClock.bootTime()
    return UInt64(max(0, time.seconds)) &* 1_000_000_000 &+ UInt64(max(0, time.nanoseconds))
  }

  private func write(_ value: String, to file: String) throws(Errno) {
    let fd = system_openat(instance, file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0)
    guard fd >= 0 else { throw Errno(rawValue: system_errno()) }
    defer { _ = system_close(fd) }
    try FileDescriptor(rawValue: fd).writeAll(Array(value.utf8))
  }

  /// Removes `tcpcraft-PID...` instances whose process is gone (a killed run's).
  private static func removeStale(instances: CInt) {
    for name in system_listDirectory(instances, limit: 4096) ?? [] where name.hasPrefix(prefix) {
      let digits = name.dropFirst(prefix.count).prefix { $0.isNumber }
      guard let pid = Int32(digits), pid > 1, pid != system_getpid(), ProcessHandle.isGone(pid: pid) else { continue }
      _ = system_unlinkat(instances, name, AT_REMOVEDIR)
    }
  }
}
