import CRawSocket

/// A private /tmp for one thread: what a script's backtick commands write there (the corpus's
/// `/tmp/sysctl_restore_${PPID}.sh`, say) is seen by that script alone, never by a script running
/// in parallel nor by the host, and disappears with the thread and its children.
public enum PrivateTmp {
  /// Why the private /tmp could not be made.
  public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The step that failed, e.g. "mounting a tmpfs on /tmp".
    public var step: String
    public var errno: Errno
    /// Whether the thread's working directory is already `directory` (the failure came later).
    public var inDirectory: Bool
    public var description: String { "\(step): \(errno)" }
  }

  /// Moves the calling thread into a mount namespace of its own where every mount is private and
  /// /tmp is an empty tmpfs, with `directory` (opened before /tmp is covered) as the thread's
  /// working directory. A `directory` under /tmp stays reachable at its path (its top-level entry
  /// in /tmp is bound into the new one), so scripts may climb out of it (`../../common`). Threads and processes the thread starts afterwards share all of it; the
  /// process's other threads do not. Needs `CAP_SYS_ADMIN` over the current user namespace (root,
  /// or the private user namespace of a normal user's run).
  ///
  /// The corresponding C functions are `unshare(2)` with `CLONE_NEWNS`, `fchdir(2)` and `mount(2)`.
  public static func enterOnCurrentThread(directory: String) throws(Failure) {
    var stage: CInt = 0
    var step = [CChar](repeating: 0, count: 96)
    let result = step.withUnsafeMutableBufferPointer { buffer -> CInt in
      guard let base = buffer.baseAddress else { return -1 }
      return system_privateTmp(directory, &stage, base, buffer.count)
    }
    guard result != 0 else { return }
    let error = Errno(rawValue: system_errno())
    let name = String(decoding: step.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw Failure(step: name.isEmpty ? "making a private /tmp" : name, errno: error, inDirectory: stage >= 2)
  }
}
