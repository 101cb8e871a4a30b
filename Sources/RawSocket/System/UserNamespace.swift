// UserNamespace: a private user + network namespace for a normal user, so that raw sockets and
// nf_tables work without root where the kernel allows it (kernel fact 13).
import CRawSocket

/// Entering a new user namespace with its own network namespace, as `unshare -Urn` does.
///
/// The process keeps its own uid and gid (mapped to themselves, so the files it writes belong to
/// the caller) and holds every capability inside the new namespace — `CAP_NET_RAW` and
/// `CAP_NET_ADMIN` over the new network namespace only, which starts with nothing but `lo`
/// (brought up here). The capabilities are made ambient, so the programs it runs (a shell,
/// tcpcraft, tcpdump, nft) keep them too. Not uid 0: tools that drop root's privileges to
/// another user (tcpdump does) would fail, as only one uid exists in the namespace. The host's
/// interfaces, firewall and other users' traffic are out of reach.
///
/// `unshare(CLONE_NEWUSER)` fails with `EINVAL` in a multithreaded process, so call `enter()`
/// first thing in `main`, before anything starts a thread.
public enum UserNamespace {
  /// Whether the kernel lets an unprivileged process create a user namespace.
  public enum Availability: Hashable, Sendable {
    /// No setting forbids it (the `unshare` itself still has the last word).
    case allowed
    /// A setting forbids it; the reason names the setting (for the one-line message).
    case forbidden(String)
  }

  /// What prevented entering a namespace.
  public struct EntryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What failed, e.g. "the kernel forbids unprivileged user namespaces (user.max_user_namespaces = 0)".
    public var reason: String
    /// The errno, when a system call failed.
    public var errno: Errno?

    public init(reason: String, errno: Errno? = nil) {
      self.reason = reason
      self.errno = errno
    }

    public var description: String { errno.map { "\(reason): \($0)" } ?? reason }

    /// One line for a user: what failed and the two other ways (sudo, or the capability grant).
    public func advice(binary: String? = Capabilities.executablePath()) -> String {
      "tcpcraft cannot make a private network namespace without root here: \(description). "
        + "Run it with sudo, or grant it once with `sudo setcap cap_net_raw,cap_net_admin+ep \(binary ?? "<binary>")`"
    }
  }

  /// `CLONE_NEWUSER`, `CLONE_NEWNET`, `CLONE_NEWNS`.
  static let cloneNewUser: CInt = 0x1000_0000, cloneNewNet: CInt = 0x4000_0000, cloneNewMount: CInt = 0x0002_0000

  /// Reads the settings that forbid unprivileged user namespaces on various systems:
  /// `kernel.unprivileged_userns_clone` (Debian's switch), `user.max_user_namespaces`, and
  /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+). A missing file allows.
  public static func availability() -> Availability {
    func setting(_ path: String) -> String? {
      readSmallFile(path).map { String($0.filter { !$0.isWhitespace }) }
    }
    if setting("/proc/sys/kernel/unprivileged_userns_clone") == "0" {
      return .forbidden("the kernel forbids unprivileged user namespaces (kernel.unprivileged_userns_clone = 0)")
    }
    if setting("/proc/sys/user/max_user_namespaces") == "0" {
      return .forbidden("the kernel forbids user namespaces (user.max_user_namespaces = 0)")
    }
    if setting("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
      return .forbidden(
        "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)")
    }
    return .allowed
  }

  /// Whether this process runs in a user namespace other than the initial one (its `uid_map`
  /// is not the identity map of every uid).
  public static var isInsideUserNamespace: Bool {
    guard let map = readSmallFile("/proc/self/uid_map") else { return false }
    let fields = map.split(whereSeparator: { $0.isWhitespace })
    return fields != ["0", "0", "4294967295"]
  }

  /// The number of threads of this process (`Threads:` of `/proc/self/status`), or `nil`.
  public static func threadCount() -> Int? {
    guard let status = readSmallFile("/proc/self/status") else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Threads:") {
      return Int(line.dropFirst("Threads:".count).filter { !$0.isWhitespace })
    }
    return nil
  }

  /// Whether tcpcraft should enter a private namespace to get its capabilities: it lacks
  /// `CAP_NET_RAW` or `CAP_NET_ADMIN` here. (Inside another user namespace too: a nested one
  /// works the same, as in a rootless container.)
  public static var wouldHelp: Bool {
    !Capabilities.missing([.netRaw, .netAdmin]).isEmpty
  }

  /// Enters a new user namespace and a new network namespace owned by it: the caller's real uid
  /// and gid map to themselves (`setgroups` denied first, as the kernel requires for an
  /// unprivileged gid map), every capability is made ambient, and `lo` is up.
  ///
  /// - Parameter privateMounts: also a new mount namespace, where /run is a private copy with an
  ///   empty `/run/netns` (so `ip netns add` works without the host's root) and /sys shows the
  ///   new network namespace's interfaces. The rest of the file system is the same.
  /// - Throws: `EntryError` when a setting forbids it, when the process has more than one
  ///   thread, or when a step fails (`unshare` refused: `EPERM`, `ENOSPC`, `EINVAL`...).
  public static func enter(privateMounts: Bool = false) throws(EntryError) {
    if case .forbidden(let reason) = availability() { throw EntryError(reason: reason) }
    if let threads = threadCount(), threads > 1 {
      throw EntryError(
        reason: "a process with \(threads) threads cannot enter a new user namespace (unshare needs a single thread)",
        errno: Errno(rawValue: EINVAL))
    }
    let uid = system_getuid()
    let gid = system_getgid()
    if system_unshare(cloneNewUser | cloneNewNet | (privateMounts ? cloneNewMount : 0)) != 0 {
      let error = Errno(rawValue: system_errno())
      throw EntryError(
        reason: error == .notPermitted
          ? "the system refused an unprivileged user namespace (unshare: a security module or a sysctl)"
          : "unshare(CLONE_NEWUSER | CLONE_NEWNET) failed",
        errno: error)
    }
    try writeProcFile("/proc/self/setgroups", "deny")
    try writeProcFile("/proc/self/uid_map", "\(uid) \(uid) 1\n")
    try writeProcFile("/proc/self/gid_map", "\(gid) \(gid) 1\n")
    if system_raiseAmbientCapabilities() != 0 {
      throw EntryError(reason: "making the namespace's capabilities ambient", errno: Errno(rawValue: system_errno()))
    }
    try bringLoopbackUp()
    if privateMounts {
      var step = [CChar](repeating: 0, count: 128)
      let result = step.withUnsafeMutableBufferPointer { buffer -> CInt in
        guard let base = buffer.baseAddress else { return -1 }
        return system_privateMounts(base, buffer.count)
      }
      if result != 0 {
        let error = Errno(rawValue: system_errno())
        let name = String(decoding: step.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw EntryError(reason: name.isEmpty ? "setting up the private mounts" : name, errno: error)
      }
    }
  }

  /// Whether `path` is a namespace file itself (on nsfs, `NSFS_MAGIC`), such as the bind mount
  /// `ip netns add` leaves in /run/netns. In a private user namespace its owner shows as the
  /// overflow uid (65534), not 0; but no file a user plants can be on nsfs.
  public static func isNamespaceFile(_ path: String) -> Bool {
    system_filesystemType(path) == 0x6E73_6673
  }

  /// Sets `lo` up in the current network namespace (needs `CAP_NET_ADMIN` over it).
  public static func bringLoopbackUp() throws(EntryError) {
    let fd = system_socket(AF_INET, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else {
      throw EntryError(reason: "socket(AF_INET, SOCK_DGRAM) to set lo up", errno: Errno(rawValue: system_errno()))
    }
    defer { _ = system_close(fd) }
    if system_interfaceUp(fd, "lo") != 0 {
      throw EntryError(reason: "setting lo up (SIOCSIFFLAGS)", errno: Errno(rawValue: system_errno()))
    }
  }

  /// Writes `text` to a `/proc` control file in one `write` (as the kernel wants for id maps).
  static func writeProcFile(_ path: String, _ text: String) throws(EntryError) {
    let fd = system_openWriteOnly(path)
    guard fd >= 0 else { throw EntryError(reason: "opening \(path)", errno: Errno(rawValue: system_errno())) }
    defer { _ = system_close(fd) }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { system_write(fd, $0.baseAddress, $0.count) }
    if written != bytes.count {
      throw EntryError(
        reason: "writing \"\(text.filter { $0 != "\n" })\" to \(path)",
        errno: written < 0 ? Errno(rawValue: system_errno()) : nil)
    }
  }
}
