import RawSocket

/// Writes an output file (an SVG ladder, a pcapng) through RawSocket's `SafeFile`: the bytes go to
/// a fresh temporary name beside the target (`O_CREAT|O_EXCL|O_NOFOLLOW`), are fsynced, and are
/// renamed into place only if the target is missing or a regular file of ours with one link —
/// never through a symlink, never over another user's file (issue 11).
enum SafeWrite {
  /// Writes `bytes` to `path` (relative to the current directory). Returns what went wrong, or `nil`.
  static func write(_ bytes: [UInt8], to path: String) -> String? {
    guard !path.isEmpty else { return "empty file name" }
    do throws(FileSafetyError) {
      try SafeFile.write(bytes, to: path)
      return nil
    } catch {
      return error.isRefusal ? "refused: \(error.reason)" : error.reason
    }
  }
}
