import Foundation

/// A copy of a built executable that another user (nobody, 65534) can reach and run, in a fresh
/// folder of its own (the build directory may sit under a private home), optionally with file
/// capabilities set by `setcap`, plus a work folder that user owns. `cleanUp()` removes both.
///
/// Run it as that user with `asUser(...)`: `setpriv --reuid --regid --clear-groups` switches the
/// ids first, then execs the copy, so file capabilities apply at that exec.
public final class UnprivilegedCopy {
  /// The user the copy runs as.
  public static let user: UInt32 = 65534
  public let folder: String
  public let binary: String
  /// A folder owned by `user` (mode 0700): the working directory and session folder of its runs.
  public let workFolder: String

  /// - Parameters:
  ///   - source: the executable to copy.
  ///   - capabilities: a `setcap` text such as `cap_net_raw,cap_net_admin+ep`, or nil for none.
  /// - Throws: `TestSupportError` when a step fails (everything made so far is removed).
  public init(of source: String, capabilities: String? = nil) throws {
    let base = NSTemporaryDirectory() + "tcpcraft-copy-\(getpid())-\(UUID().uuidString.prefix(8))"
    folder = base
    binary = base + "/" + URL(fileURLWithPath: source).lastPathComponent
    workFolder = base + "/work"
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
      guard chmod(folder, 0o755) == 0 else { throw TestSupportError("chmod \(folder): errno \(errno)") }
      try FileManager.default.copyItem(atPath: source, toPath: binary)
      guard chmod(binary, 0o755) == 0 else { throw TestSupportError("chmod \(binary): errno \(errno)") }
      try FileManager.default.createDirectory(atPath: workFolder, withIntermediateDirectories: false)
      guard chmod(workFolder, 0o700) == 0, chown(workFolder, Self.user, Self.user) == 0 else {
        throw TestSupportError("chown \(workFolder) to \(Self.user): errno \(errno)")
      }
      if let capabilities {
        let result = try Subprocess.run(["setcap", capabilities, binary])
        guard result.status == 0 else { throw TestSupportError("setcap \(capabilities): \(result.output)") }
      }
    } catch {
      cleanUp()
      throw error
    }
  }

  /// `setpriv` switching to `user` (no supplementary groups), then `arguments`.
  public func asUser(_ arguments: [String]) -> [String] {
    ["setpriv", "--reuid=\(Self.user)", "--regid=\(Self.user)", "--clear-groups"] + arguments
  }

  /// Removes the copy and the work folder (and what the runs left in it).
  public func cleanUp() {
    try? FileManager.default.removeItem(atPath: folder)
  }
}
