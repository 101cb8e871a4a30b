// Safe output files and private directories, for a tool that often runs as root (or with file
// capabilities) on a machine other users share.
//
// The rules, everywhere we write:
// - never follow a symbolic link at the last component (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`);
// - never truncate or replace anything that is not a regular file we own with a single link
//   (a hard link to `/etc/shadow` planted in `/tmp` is owned by root too, hence the link count);
// - check what was opened (`fstat` on the descriptor), not what a name pointed to a moment ago;
// - work relative to a directory descriptor (`openat`, `renameat2`, `unlinkat`), so that swapping
//   the directory for a link between two steps redirects nothing.
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

/// Why a file or directory was refused or could not be written. `description` is one line.
public struct FileSafetyError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The path as the caller gave it.
  public var path: String
  /// What is wrong, e.g. "it is a symbolic link".
  public var reason: String
  /// Whether this is a refusal on safety grounds (planted link, foreign owner...) rather than an
  /// ordinary failure (no space, no such directory).
  public var isRefusal: Bool
  /// The errno behind an ordinary failure, when there is one (`ENOENT`: it does not exist).
  public var code: CInt?

  public init(path: String, reason: String, isRefusal: Bool, code: CInt? = nil) {
    self.path = path
    self.reason = reason
    self.isRefusal = isRefusal
    self.code = code
  }

  public var description: String {
    isRefusal ? "refusing \(path): \(reason)" : "\(path): \(reason)"
  }
}

/// Metadata of an open file or a directory entry, from `fstat`/`fstatat`.
public struct FileStatus: Hashable, Sendable {
  public var device: UInt64
  public var inode: UInt64
  public var mode: UInt32
  public var owner: UInt32
  public var links: UInt64
  public var size: Int64
  /// Modification time, seconds since the epoch.
  public var modified: Double

  init(_ raw: stat) {
    device = UInt64(raw.st_dev)
    inode = UInt64(raw.st_ino)
    mode = UInt32(raw.st_mode)
    owner = UInt32(raw.st_uid)
    links = UInt64(raw.st_nlink)
    size = Int64(raw.st_size)
    modified = Double(raw.st_mtim.tv_sec) + Double(raw.st_mtim.tv_nsec) / 1e9
  }

  public var isRegularFile: Bool { mode & 0o170000 == 0o100000 }
  public var isDirectory: Bool { mode & 0o170000 == 0o040000 }
  public var isSymbolicLink: Bool { mode & 0o170000 == 0o120000 }
  public var permissions: UInt32 { mode & 0o7777 }

  /// "a symbolic link", "a directory", "a regular file"...
  public var kind: String {
    switch mode & 0o170000 {
    case 0o100000: "a regular file"
    case 0o040000: "a directory"
    case 0o120000: "a symbolic link"
    case 0o010000: "a FIFO"
    case 0o140000: "a socket"
    case 0o020000, 0o060000: "a device"
    default: "not a regular file"
    }
  }
}

/// Creating and replacing output files without following links or clobbering foreign files.
public enum SafeFile {
  /// The effective uid: the owner every file we write must have.
  public static var effectiveUser: UInt32 { UInt32(system_geteuid()) }

  /// The real user id of this process (`getuid(2)`): who started it, even when set-uid.
  public static var realUser: UInt32 { UInt32(system_getuid()) }

  /// Opens `path` for writing from the start and returns the descriptor (close-on-exec).
  ///
  /// A missing file is created (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode `mode`). An existing one is
  /// truncated only if it is a regular file owned by the effective user with one link; anything
  /// else — a symbolic link, a FIFO, a device, another user's file, a hard link — is refused.
  /// The descriptor is the file checked: the name is never reopened, so no rename race.
  public static func openForWriting(_ path: String, mode: mode_t = 0o644) throws(FileSafetyError) -> CInt {
    let (directory, name) = try openParent(of: path)
    defer { _ = system_close(directory) }
    return try openForWriting(name, in: directory, path: path, mode: mode, owner: effectiveUser)
  }

  /// Writes `bytes` to `path` as a whole: a fresh temporary file in the same directory
  /// (`O_EXCL | O_NOFOLLOW`), `fsync`, then `renameat2` over the name. An existing `path` must be
  /// a regular file owned by the effective user with one link, and a missing one is never
  /// replaced by a file that appeared meanwhile (`RENAME_NOREPLACE`).
  public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(FileSafetyError) {
    let (directory, name) = try openParent(of: path)
    defer { _ = system_close(directory) }
    try replace(name, in: directory, path: path, bytes: bytes, mode: mode, owner: effectiveUser, chownTo: nil, noReplace: false)
  }

  /// Writes all of `bytes` to `fd` (short writes and `EINTR` retried, bounded).
  public static func writeAll(_ fd: CInt, _ bytes: some Collection<UInt8>, path: String) throws(FileSafetyError) {
    let failure: CInt? = Array(bytes).withUnsafeBytes { raw -> CInt? in
      var offset = 0
      var rounds = 0
      while offset < raw.count, rounds < 100_000 {
        rounds += 1
        let written = system_write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
        if written < 0 {
          if system_errno() == EINTR { continue }
          return system_errno()
        }
        offset += written
      }
      return offset < raw.count ? EIO : nil
    }
    if let failure { throw FileSafetyError(path: path, reason: "write: \(system_strerror(failure))", isRefusal: false) }
  }

  /// Takes an exclusive `flock` on `fd` without waiting: true when taken, false when another
  /// open file description holds it. Released when the descriptor is closed.
  public static func tryLockExclusive(_ fd: CInt) -> Bool {
    for _ in 0..<100 {
      if system_flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
      if system_errno() != EINTR { return false }
    }
    return false
  }

  /// Reads up to `limit` bytes from `fd`, from the start (`pread`), for a file already checked.
  public static func readFromStart(_ fd: CInt, limit: Int, path: String) throws(FileSafetyError) -> [UInt8] {
    _ = system_lseek(fd, 0, SEEK_SET)
    return try SafeDirectory.readAll(fd, limit: limit, path: path)
  }

  /// Whether the real user may write into `path` (`access(2)` with `W_OK`): a hint for choosing
  /// a directory, never a check before opening (the open itself decides).
  public static func isWritable(_ path: String) -> Bool { system_access(path, W_OK) }

  /// `fstat` of an open descriptor.
  public static func status(of fd: CInt) -> FileStatus? {
    var raw = stat()
    guard system_fstat(fd, &raw) == 0 else { return nil }
    return FileStatus(raw)
  }

  // MARK: - Internals shared with SafeDirectory

  /// Opens the folder of `path` (its last component stays a name) and returns it with the name.
  static func openParent(of path: String) throws(FileSafetyError) -> (CInt, String) {
    let trimmed = path
    guard !trimmed.isEmpty, !trimmed.hasSuffix("/") else {
      throw FileSafetyError(path: path, reason: "not a file name", isRefusal: false)
    }
    guard !trimmed.utf8.contains(0) else {
      throw FileSafetyError(path: path, reason: "the name contains a NUL byte", isRefusal: false)
    }
    let directoryPath: String
    let name: String
    if let slash = trimmed.lastIndex(of: "/") {
      let head = String(trimmed[..<slash])
      directoryPath = head.isEmpty ? "/" : head
      name = String(trimmed[trimmed.index(after: slash)...])
    } else {
      directoryPath = "."
      name = trimmed
    }
    guard name != ".", name != ".." else {
      throw FileSafetyError(path: path, reason: "not a file name", isRefusal: false)
    }
    let fd = system_open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else {
      throw FileSafetyError(
        path: path, reason: "cannot open its folder \(directoryPath): \(system_strerror(system_errno()))", isRefusal: false)
    }
    return (fd, name)
  }

  /// What makes an existing entry unfit to be truncated or replaced by us, or nil when fine.
  static func unfitness(_ status: FileStatus, owner: UInt32) -> String? {
    if !status.isRegularFile { return "it is \(status.kind), not a regular file" }
    if status.owner != owner { return "it belongs to uid \(status.owner), not to uid \(owner)" }
    if status.links != 1 { return "it has \(status.links) hard links" }
    return nil
  }

  static func statEntry(_ name: String, in directory: CInt) -> (FileStatus?, CInt) {
    var raw = stat()
    if system_fstatat(directory, name, &raw, AT_SYMLINK_NOFOLLOW) == 0 { return (FileStatus(raw), 0) }
    return (nil, system_errno())
  }

  static func openForWriting(
    _ name: String, in directory: CInt, path: String, mode: mode_t, owner: UInt32
  ) throws(FileSafetyError) -> CInt {
    // A bounded number of tries: each lost race (the entry appears or vanishes between two
    // calls) costs one.
    for _ in 0..<8 {
      let created = system_openat(
        directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode)
      if created >= 0 { return created }
      let code = system_errno()
      guard code == EEXIST else {
        throw FileSafetyError(path: path, reason: "cannot create it: \(system_strerror(code))", isRefusal: false)
      }
      // It exists: look before opening (opening a FIFO or a device can itself have effects).
      let (seen, statError) = statEntry(name, in: directory)
      guard let seen else {
        if statError == ENOENT { continue }
        throw FileSafetyError(path: path, reason: system_strerror(statError), isRefusal: false)
      }
      if let problem = unfitness(seen, owner: owner) {
        throw FileSafetyError(path: path, reason: problem, isRefusal: true)
      }
      let fd = system_openat(directory, name, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0)
      if fd < 0 {
        let openError = system_errno()
        if openError == ENOENT { continue }
        if openError == ELOOP {
          throw FileSafetyError(path: path, reason: "it is a symbolic link", isRefusal: true)
        }
        throw FileSafetyError(path: path, reason: "cannot open it: \(system_strerror(openError))", isRefusal: false)
      }
      // What we opened must be what we looked at, and still fit.
      guard let opened = status(of: fd) else {
        let error = system_errno()
        _ = system_close(fd)
        throw FileSafetyError(path: path, reason: "fstat: \(system_strerror(error))", isRefusal: false)
      }
      if let problem = unfitness(opened, owner: owner) {
        _ = system_close(fd)
        throw FileSafetyError(path: path, reason: problem, isRefusal: true)
      }
      guard opened.device == seen.device, opened.inode == seen.inode else {
        _ = system_close(fd)
        continue
      }
      guard system_ftruncate(fd, 0) == 0 else {
        let error = system_errno()
        _ = system_close(fd)
        throw FileSafetyError(path: path, reason: "cannot truncate it: \(system_strerror(error))", isRefusal: false)
      }
      // Back to blocking writes.
      let flags = system_fcntl(fd, F_GETFL, 0)
      if flags >= 0 { _ = system_fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
      return fd
    }
    throw FileSafetyError(path: path, reason: "it kept changing while being opened", isRefusal: true)
  }

  /// Replaces `name` in `directory` with `bytes` (temporary file, fsync, rename).
  static func replace(
    _ name: String, in directory: CInt, path: String, bytes: [UInt8], mode: mode_t, owner: UInt32,
    chownTo: UInt32?, noReplace: Bool
  ) throws(FileSafetyError) {
    var temporaryName = ""
    var fd: CInt = -1
    for _ in 0..<16 {
      temporaryName = ".\(name).\(randomHex(bytes: 6)).tmp"
      fd = system_openat(
        directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode)
      if fd >= 0 || system_errno() != EEXIST { break }
    }
    guard fd >= 0 else {
      throw FileSafetyError(
        path: path, reason: "cannot create a temporary file beside it: \(system_strerror(system_errno()))", isRefusal: false)
    }
    var committed = false
    defer {
      _ = system_close(fd)
      if !committed { _ = system_unlinkat(directory, temporaryName, 0) }
    }
    // The creation mode is masked by the umask: set it exactly.
    _ = system_fchmod(fd, mode)
    if let chownTo, chownTo != effectiveUser, system_fchown(fd, chownTo, gid_t.max) != 0 {
      throw FileSafetyError(path: path, reason: "fchown: \(system_strerror(system_errno()))", isRefusal: false)
    }
    try writeAll(fd, bytes, path: path)
    guard system_fsync(fd) == 0 else {
      throw FileSafetyError(path: path, reason: "fsync: \(system_strerror(system_errno()))", isRefusal: false)
    }
    for _ in 0..<8 {
      let (existing, statError) = statEntry(name, in: directory)
      if let existing {
        if noReplace {
          throw FileSafetyError(path: path, reason: "it already exists", isRefusal: true)
        }
        if let problem = unfitness(existing, owner: owner) {
          throw FileSafetyError(path: path, reason: problem, isRefusal: true)
        }
        // Replacing swaps the directory entry; a link planted meanwhile is replaced, never followed.
        guard system_renameat2(directory, temporaryName, directory, name, 0) == 0 else {
          throw FileSafetyError(path: path, reason: "rename: \(system_strerror(system_errno()))", isRefusal: false)
        }
        committed = true
        return
      }
      guard statError == ENOENT else {
        throw FileSafetyError(path: path, reason: system_strerror(statError), isRefusal: false)
      }
      // RENAME_NOREPLACE (1): whatever appeared since the look is never replaced.
      if system_renameat2(directory, temporaryName, directory, name, 1) == 0 {
        committed = true
        return
      }
      let renameError = system_errno()
      if renameError == EEXIST { continue }
      throw FileSafetyError(path: path, reason: "rename: \(system_strerror(renameError))", isRefusal: false)
    }
    throw FileSafetyError(path: path, reason: "it kept changing while being replaced", isRefusal: true)
  }

  /// `count` random bytes as lowercase hex (getrandom(2)).
  public static func randomHex(bytes count: Int) -> String {
    var buffer = [UInt8](repeating: 0, count: max(1, count))
    let got = buffer.withUnsafeMutableBytes { raw in raw.baseAddress.map { system_getrandom($0, raw.count) } ?? -1 }
    if got != buffer.count {
      // getrandom(2) does not fail for small requests on any kernel we run on; /dev/urandom next.
      let fd = system_openReadOnly("/dev/urandom")
      var filled = false
      if fd >= 0 {
        filled = buffer.withUnsafeMutableBytes { system_read(fd, $0.baseAddress, $0.count) } == buffer.count
        _ = system_close(fd)
      }
      if !filled {
        var mix = system_clockAndPid() &* 0x9E37_79B9_7F4A_7C15
        for index in buffer.indices {
          mix = mix &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          buffer[index] = UInt8(truncatingIfNeeded: mix >> 33)
        }
      }
    }
    let digits = Array("0123456789abcdef")
    return String(buffer.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
  }
}

/// A directory that belongs to one user alone (mode 0700, owned by that uid), opened without
/// following a link, and the files in it, reached only relative to its descriptor.
public final class SafeDirectory {
  /// The open directory.
  public let descriptor: CInt
  /// Its path, for messages.
  public let path: String
  /// The uid that must own it and every file in it.
  public let owner: UInt32
  private var isClosed = false

  private init(descriptor: CInt, path: String, owner: UInt32) {
    self.descriptor = descriptor
    self.path = path
    self.owner = owner
  }

  deinit { close() }

  public func close() {
    guard !isClosed else { return }
    isClosed = true
    _ = system_close(descriptor)
  }

  /// Opens (creating it, mode 0700, when missing and `create` is set) the private directory
  /// `path` of user `owner`. A directory we create for another user (root acting for a sudo
  /// user) is handed to that user. Refused: a link, anything not a directory, a directory owned
  /// by someone else, or one that group or others can use.
  public static func openPrivate(_ path: String, owner: UInt32, create: Bool) throws(FileSafetyError) -> SafeDirectory {
    guard !path.isEmpty, !path.utf8.contains(0) else {
      throw FileSafetyError(path: path, reason: "not a directory name", isRefusal: false)
    }
    var trimmed = path
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
    if create {
      let made = system_mkdir(trimmed, 0o700)
      if made != 0, system_errno() != EEXIST {
        throw FileSafetyError(path: path, reason: "cannot create it: \(system_strerror(system_errno()))", isRefusal: false)
      }
    }
    let fd = system_open(trimmed, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else {
      let code = system_errno()
      if code == ELOOP { throw FileSafetyError(path: path, reason: "it is a symbolic link", isRefusal: true) }
      if code == ENOTDIR {
        // O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR: say which it is.
        var raw = stat()
        let isLink = system_fstatat(AT_FDCWD, trimmed, &raw, AT_SYMLINK_NOFOLLOW) == 0 && FileStatus(raw).isSymbolicLink
        throw FileSafetyError(path: path, reason: isLink ? "it is a symbolic link" : "it is not a directory", isRefusal: true)
      }
      throw FileSafetyError(path: path, reason: system_strerror(code), isRefusal: false, code: code)
    }
    guard var status = SafeFile.status(of: fd) else {
      _ = system_close(fd)
      throw FileSafetyError(path: path, reason: "fstat: \(system_strerror(system_errno()))", isRefusal: false)
    }
    // Root creating the directory of the user it acts for: hand it over, then check as usual.
    let me = SafeFile.effectiveUser
    if status.owner == me, owner != me, me == 0, create {
      if system_fchown(fd, owner, gid_t.max) == 0, let updated = SafeFile.status(of: fd) { status = updated }
    }
    if !status.isDirectory {
      _ = system_close(fd)
      throw FileSafetyError(path: path, reason: "it is \(status.kind)", isRefusal: true)
    }
    if status.owner != owner {
      _ = system_close(fd)
      throw FileSafetyError(path: path, reason: "it belongs to uid \(status.owner), not to uid \(owner)", isRefusal: true)
    }
    if status.permissions & 0o077 != 0 {
      _ = system_close(fd)
      throw FileSafetyError(
        path: path, reason: "its mode is \(String(status.permissions, radix: 8)): group or others can use it (want 700)",
        isRefusal: true)
    }
    return SafeDirectory(descriptor: fd, path: trimmed, owner: owner)
  }

  /// `path/name`, for messages.
  public func path(of name: String) -> String { path + "/" + name }

  /// Whether `name` is a plain file name (no slash, not `.`/`..`, no NUL, not hidden).
  public static func isPlainName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.utf8.contains(0)
  }

  /// Replaces (or, with `exclusive`, creates only if missing) `name` with `bytes`, mode 0600,
  /// owned by `owner`.
  public func write(_ bytes: [UInt8], to name: String, exclusive: Bool = false) throws(FileSafetyError) {
    guard Self.isPlainName(name) else { throw FileSafetyError(path: path(of: name), reason: "not a plain file name", isRefusal: true) }
    try SafeFile.replace(
      name, in: descriptor, path: path(of: name), bytes: bytes, mode: 0o600, owner: owner, chownTo: owner,
      noReplace: exclusive)
  }

  /// Opens `name` for reading if it is a regular file `owner` owns with one link; nil when
  /// missing. The descriptor is checked with fstat after opening (never a link, FIFO or device).
  public func openRegularFile(_ name: String, flags: CInt = O_RDONLY) throws(FileSafetyError) -> CInt? {
    guard Self.isPlainName(name) else { throw FileSafetyError(path: path(of: name), reason: "not a plain file name", isRefusal: true) }
    let fd = system_openat(descriptor, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0)
    guard fd >= 0 else {
      let code = system_errno()
      if code == ENOENT { return nil }
      if code == ELOOP { throw FileSafetyError(path: path(of: name), reason: "it is a symbolic link", isRefusal: true) }
      throw FileSafetyError(path: path(of: name), reason: system_strerror(code), isRefusal: false)
    }
    guard let status = SafeFile.status(of: fd) else {
      _ = system_close(fd)
      throw FileSafetyError(path: path(of: name), reason: "fstat failed", isRefusal: false)
    }
    if let problem = SafeFile.unfitness(status, owner: owner) {
      _ = system_close(fd)
      throw FileSafetyError(path: path(of: name), reason: problem, isRefusal: true)
    }
    return fd
  }

  /// Reads `name` (at most `limit` bytes) under `openRegularFile`'s rules; nil when missing.
  public func read(_ name: String, limit: Int = 65_536) throws(FileSafetyError) -> [UInt8]? {
    guard let fd = try openRegularFile(name) else { return nil }
    defer { _ = system_close(fd) }
    return try Self.readAll(fd, limit: limit, path: path(of: name))
  }

  /// Everything from `fd` (at most `limit` bytes; more is an error).
  public static func readAll(_ fd: CInt, limit: Int, path: String) throws(FileSafetyError) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<(limit / 4096 + 16) {
      let count = chunk.withUnsafeMutableBytes { system_read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if system_errno() == EINTR { continue }
        throw FileSafetyError(path: path, reason: "read: \(system_strerror(system_errno()))", isRefusal: false)
      }
      if count == 0 { return bytes }
      bytes.append(contentsOf: chunk[..<count])
      if bytes.count > limit { throw FileSafetyError(path: path, reason: "larger than \(limit) bytes", isRefusal: true) }
    }
    return bytes
  }

  /// Removes `name` if it is still the file `expected` (same device and inode), or any regular
  /// file when `expected` is nil. Never follows a link; never removes a directory.
  @discardableResult
  public func remove(_ name: String, ifStill expected: FileStatus? = nil) -> Bool {
    guard Self.isPlainName(name) else { return false }
    let (seen, _) = SafeFile.statEntry(name, in: descriptor)
    guard let seen, !seen.isDirectory else { return false }
    if let expected, seen.device != expected.device || seen.inode != expected.inode { return false }
    return system_unlinkat(descriptor, name, 0) == 0
  }

  /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`, nil when missing.
  public func status(of name: String) -> FileStatus? {
    guard Self.isPlainName(name) else { return nil }
    return SafeFile.statEntry(name, in: descriptor).0
  }

  /// The names in the directory (at most `limit`).
  public func names(limit: Int = 4096) -> [String] {
    system_listDirectory(descriptor, limit: limit) ?? []
  }
}
