#if canImport(Glibc)
import Glibc
#endif
import RawSocket

/// Names of `ip netns` namespaces, checked before anything is opened, and facts about the
/// kernel the probe runs on.
public enum ProbeNamespace {
  /// Where `ip netns add NAME` leaves its namespace files.
  public static let directory = "/var/run/netns"

  /// Why `name` cannot be used as an `ip netns` name, or `nil` when it names an existing
  /// namespace. A name is one path component (no `/`, not `.` or `..`, no NUL), so it can never
  /// be made to open a file elsewhere; the file must be a regular file owned by root (a bind
  /// mount of a namespace, as `ip netns add` makes), not a symlink.
  public static func problem(with name: String) -> String? {
    if name.isEmpty { return "give a namespace name (see `ip netns list`)" }
    if name.utf8.count > 255 || name == "." || name == ".." || name.contains("/") || name.utf8.contains(0) {
      return "\"\(name)\" is not a namespace name (one path component, as `ip netns add` takes)"
    }
    // Opened without following a link in the last place (ELOOP), through RawSocket's seam.
    let path = directory + "/" + name
    let info: FileStatus
    do throws(Errno) {
      let file = try FileDescriptor.openForReading(path: path)
      defer { try? file.close() }
      guard let status = file.status() else { return "cannot read \(path)'s status" }
      info = status
    } catch {
      if error == .noSuchFileOrDirectory { return "no network namespace \"\(name)\" (see `ip netns list`)" }
      return "\(path) is not a namespace file made by `ip netns add` (\(error))"
    }
    guard info.isRegularFile, info.owner == 0 || UserNamespace.isNamespaceFile(path) else {
      return "\(directory)/\(name) is not a namespace file made by `ip netns add` (not a root-owned regular file)"
    }
    return nil
  }

  /// The running kernel's release (`uname -r`), read from `/proc/sys/kernel/osrelease`.
  public static func localKernelRelease() -> String? {
    guard let text = KernelCounters.readText("/proc/sys/kernel/osrelease") else { return nil }
    let release = text.trimmingSpaces()
    return release.isEmpty ? nil : release
  }
}

extension String {
  fileprivate func trimmingSpaces() -> String {
    var scalars = Substring(self)
    while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
    while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
    return String(scalars)
  }
}

extension ProbeRunner {
  /// What the JSON summary names as the tool's version.
  public static let toolVersion = "0.1.0"
}
