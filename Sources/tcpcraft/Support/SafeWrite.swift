import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes an output file without following symlinks or trusting a file someone else planted:
/// the bytes go to a fresh temporary name beside the target, opened with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` (so an existing file or symlink there is never opened), then
/// `rename(2)` puts it in place (which replaces a symlink at the target, never writes through it).
enum SafeWrite {
  /// Writes `bytes` to `path` (relative to the current directory). Returns what went wrong, or `nil`.
  static func write(_ bytes: [UInt8], to path: String) -> String? {
    guard !path.isEmpty else { return "empty file name" }
    let target = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    let directory = (target as NSString).deletingLastPathComponent
    let name = (target as NSString).lastPathComponent
    guard !name.isEmpty, name != ".", name != ".." else { return "not a file name" }
    var random = SystemRandomNumberGenerator()
    let temporary = directory + "/." + name + ".tcpcraft-" + String(getpid()) + "-" + String(random.next() as UInt32, radix: 16)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return String(cString: strerror(errno)) }
    var offset = 0
    var failure: String?
    // Bounded: each pass writes something or fails.
    for _ in 0..<100_000 where offset < bytes.count {
      let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      if written < 0 {
        if errno == EINTR { continue }
        failure = String(cString: strerror(errno))
        break
      }
      offset += written
    }
    if failure == nil && offset < bytes.count { failure = "short write" }
    if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
    if failure == nil && rename(temporary, target) != 0 { failure = String(cString: strerror(errno)) }
    if failure != nil { unlink(temporary) }
    return failure
  }
}
