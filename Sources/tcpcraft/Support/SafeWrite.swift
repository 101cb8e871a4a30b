import Foundation
import RawSocket

/// Writes an output file without following symlinks or trusting a file someone else planted:
/// the bytes go to a fresh temporary name beside the target, created with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` (so an existing file or symlink there is never opened), then
/// `rename(2)` puts it in place (which replaces a symlink at the target, never writes through it).
/// Every call goes through RawSocket's `system_*` seam.
enum SafeWrite {
  /// Writes `bytes` to `path` (relative to the current directory). Returns what went wrong, or `nil`.
  static func write(_ bytes: [UInt8], to path: String) -> String? {
    guard !path.isEmpty else { return "empty file name" }
    let target = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    let directory = (target as NSString).deletingLastPathComponent
    let name = (target as NSString).lastPathComponent
    guard !name.isEmpty, name != ".", name != ".." else { return "not a file name" }
    var random = SystemRandomNumberGenerator()
    let temporary =
      directory + "/." + name + ".tcpcraft-" + String(ProcessInfo.processInfo.processIdentifier) + "-"
      + String(random.next() as UInt32, radix: 16)
    let file: FileDescriptor
    do throws(Errno) {
      file = try FileDescriptor.createNew(path: temporary)
    } catch {
      return error.description
    }
    var failure: Errno? = bytes.withUnsafeBytes { raw in
      do throws(Errno) {
        try file.writeAll(raw)
        return nil
      } catch {
        return error
      }
    }
    do throws(Errno) { try file.close() } catch { failure = failure ?? error }
    if failure == nil {
      do throws(Errno) { try FileSystem.rename(temporary, to: target) } catch { failure = error }
    }
    if failure != nil { try? FileSystem.unlink(temporary) }
    return failure?.description
  }
}
