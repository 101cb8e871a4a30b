import CRawSocket

/// An open file descriptor: a capture file to write or read, standard input or output, a pipe end.
///
/// The caller owns the descriptor's lifetime: nothing closes it implicitly. Every call goes through
/// the `system_*` seam, so a debug build can force its errors. Modelled on swift-system's
/// `FileDescriptor`.
public struct FileDescriptor: RawRepresentable, Hashable, Sendable {
  /// The raw C file descriptor.
  public let rawValue: CInt
  public init(rawValue: CInt) { self.rawValue = rawValue }

  /// Standard input (descriptor 0).
  public static var standardInput: FileDescriptor { FileDescriptor(rawValue: 0) }

  /// Standard output (descriptor 1).
  public static var standardOutput: FileDescriptor { FileDescriptor(rawValue: 1) }

  /// Standard error (descriptor 2).
  public static var standardError: FileDescriptor { FileDescriptor(rawValue: 2) }

  /// Opens the file at `path` for reading. A symbolic link at `path` is refused (`ELOOP`), never
  /// followed (kernel fact 14).
  ///
  /// The corresponding C function is `open(2)` with `O_RDONLY | O_CLOEXEC | O_NOFOLLOW`.
  public static func openForReading(path: String) throws(Errno) -> FileDescriptor {
    try valueOrErrno(retryOnInterrupt: true) {
      system_openForReading(path)
    }.map(FileDescriptor.init(rawValue:)).get()
  }

  /// Opens `/dev/null` for writing (to park standard output on).
  ///
  /// The corresponding C function is `open(2)` with `O_WRONLY | O_CLOEXEC`.
  public static func openNullDevice() throws(Errno) -> FileDescriptor {
    try valueOrErrno(retryOnInterrupt: true) {
      system_open("/dev/null", O_WRONLY | O_CLOEXEC)
    }.map(FileDescriptor.init(rawValue:)).get()
  }

  /// Reads once into `buffer`; returns how many bytes came (0 at end of file). `EINTR` is retried.
  ///
  /// The corresponding C function is `read(2)`.
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    try valueOrErrno(retryOnInterrupt: true) {
      system_read(rawValue, buffer.baseAddress, buffer.count)
    }.get()
  }

  /// Makes `target` a copy of this descriptor (closing what `target` was first).
  ///
  /// The corresponding C function is `dup2(2)`.
  public func duplicate(onto target: FileDescriptor) throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: true) { system_dup2(rawValue, target.rawValue) }.get()
  }

  /// The file's type, owner, size and times (`nil` when `fstat(2)` fails).
  public func status() -> FileStatus? { SafeFile.status(of: rawValue) }

  /// Creates the file at `path`, or empties it if it exists, for writing. A symbolic link at
  /// `path` is refused (`ELOOP`), never followed: on a shared machine another user could have
  /// planted it (kernel fact 14).
  ///
  /// The corresponding C function is `open(2)` with `O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
  /// O_NOFOLLOW`.
  public static func create(path: String, permissions: UInt32 = 0o644) throws(Errno) -> FileDescriptor {
    try valueOrErrno(retryOnInterrupt: true) {
      system_openForWriting(path, mode_t(permissions))
    }.map(FileDescriptor.init(rawValue:)).get()
  }

  /// Writes once; returns how many bytes the kernel took (possibly fewer than `bytes.count`).
  /// `EINTR` is retried.
  ///
  /// The corresponding C function is `write(2)`.
  public func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
    try valueOrErrno(retryOnInterrupt: true) {
      system_write(rawValue, bytes.baseAddress, bytes.count)
    }.get()
  }

  /// Writes all of `bytes`, continuing after short writes (bounded: a write that takes nothing
  /// stops it with `EIO`).
  public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
    var offset = 0
    while offset < bytes.count {
      let written = try write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
      guard written > 0 else { throw Errno(rawValue: EIO) }
      offset += written
    }
  }

  /// Writes all of `bytes` (see `writeAll(_:)` for a buffer).
  public func writeAll(_ bytes: [UInt8]) throws(Errno) {
    try bytes.withUnsafeBytes { buffer in Result { () throws(Errno) in try writeAll(buffer) } }.get()
  }

  /// Reads once into the start of `buffer` (its count is what may come); returns how many bytes
  /// came (0 at end of file).
  public func read(into buffer: inout [UInt8]) throws(Errno) -> Int {
    try buffer.withUnsafeMutableBytes { bytes in Result { () throws(Errno) in try read(into: bytes) } }.get()
  }

  /// Flushes what was written to the storage device, retrying `EINTR`.
  ///
  /// The corresponding C function is `fsync(2)` (`EINVAL`: the file cannot be synced, as a pipe).
  public func synchronize() throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: true) { system_fsync(rawValue) }.get()
  }

  /// Whether the descriptor is a terminal (`isatty(3)`, a `TCGETS` ioctl): what decides whether
  /// progress lines are redrawn in place.
  public var isTerminal: Bool { system_isatty(rawValue) == 1 }

  /// Closes the descriptor. Never retried on `EINTR` (the descriptor is gone either way on Linux).
  ///
  /// The corresponding C function is `close(2)`.
  public func close() throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: false) { system_close(rawValue) }.get()
  }
}

/// Sleeping the calling thread, through the `system_*` seam.
public enum SystemSleep {
  /// Sleeps for about `duration` (at least that long unless the call fails); a signal that
  /// interrupts the sleep is followed by a sleep for what was left (bounded: 1000 rounds).
  ///
  /// The corresponding C function is `nanosleep(2)`.
  public static func sleep(for duration: Duration) {
    guard duration > .zero else { return }
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    for _ in 0..<1000 {
      if system_nanosleep(&request, &remaining) == 0 { return }
      guard system_errno() == EINTR else { return }
      request = remaining
    }
  }
}

/// The kernel's clocks, through the `system_*` seam.
public enum SystemClock {
  /// Time since boot, suspend included (`CLOCK_BOOTTIME`): the same clock in every process.
  public static func bootTime() -> (seconds: Int64, nanoseconds: Int32) { read(realTime: false) }

  /// Wall-clock time since the Unix epoch (`CLOCK_REALTIME`).
  public static func realTime() -> (seconds: Int64, nanoseconds: Int32) { read(realTime: true) }

  private static func read(realTime: Bool) -> (seconds: Int64, nanoseconds: Int32) {
    var now = timespec()
    _ = system_clock_gettime(realTime: realTime, &now)
    return (Int64(now.tv_sec), Int32(truncatingIfNeeded: now.tv_nsec))
  }
}
