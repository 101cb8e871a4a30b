import Foundation
import Glibc
import Synchronization

/// A network namespace the test creates with one end of a veth pair in it; `destroy()` (also run
/// by `deinit` and by a failed `init`) removes both, so nothing is left, pass or fail.
///
/// Names carry the pid and a process-wide counter, so parallel tests and parallel test processes
/// never collide: namespace `<prefix>-<pid>-<n>`, interfaces `<hostPrefix><pid>x<n>` and
/// `<namespacePrefix><pid>x<n>` (at most 15 bytes with 3-letter prefixes).
public final class VethNamespaceFixture: @unchecked Sendable {
  private static let counter = Mutex(0)

  public let name: String
  public let hostInterface: String
  public let namespaceInterface: String
  /// This fixture's number in the process (1, 2, ...), e.g. to pick a subnet.
  public let number: Int

  /// Creates the namespace and the veth pair (with the MACs given, else the kernel's), then runs
  /// `configure(self)`'s `ip`/`sysctl` commands in order.
  ///
  /// - Throws: `TestSupportError` with the failed command and its output, after removing
  ///   everything created so far.
  public init(
    prefix: String, hostPrefix: String, namespacePrefix: String, hostMAC: String? = nil,
    namespaceMAC: String? = nil, configure: (VethNamespaceFixture) -> [[String]]
  ) throws {
    number = Self.counter.withLock {
      $0 += 1
      return $0
    }
    let tag = "\(getpid())x\(number)"
    name = "\(prefix)-\(getpid())-\(number)"
    hostInterface = hostPrefix + tag
    namespaceInterface = namespacePrefix + tag
    var link = ["ip", "link", "add", hostInterface]
    if let hostMAC { link += ["address", hostMAC] }
    link += ["type", "veth", "peer", "name", namespaceInterface]
    if let namespaceMAC { link += ["address", namespaceMAC] }
    link += ["netns", name]
    for command in [["ip", "netns", "add", name], link] + configure(self) {
      let result = try? Subprocess.status(command)
      if result?.status != 0 {
        destroy()
        throw TestSupportError("\(command.joined(separator: " ")): \(result?.output ?? "did not start")")
      }
    }
  }

  /// Removes the namespace (which destroys both veth ends) and the host end; idempotent.
  public func destroy() {
    _ = try? Subprocess.status(["ip", "netns", "del", name])
    _ = try? Subprocess.status(["ip", "link", "del", hostInterface])
  }

  deinit { destroy() }

  /// Whether no namespace or interface of ours is left.
  public var isGone: Bool {
    // Whole names only: "x-1" must not be found in "x-10".
    let namespaces = (try? Subprocess.status(["ip", "netns", "list"]).output) ?? ""
    let links = (try? Subprocess.status(["ip", "-o", "link", "show"]).output) ?? ""
    let namespaceNames = namespaces.split(separator: "\n").compactMap { $0.split(separator: " ").first }
    let linkNames = links.split(separator: "\n").compactMap { line -> Substring? in
      let fields = line.split(separator: " ")
      guard fields.count > 1 else { return nil }
      return fields[1].split(separator: "@").first.map { $0.hasSuffix(":") ? $0.dropLast() : $0 }
    }
    return !namespaceNames.contains(Substring(name)) && !linkNames.contains(Substring(hostInterface))
  }

  /// `aa:bb:cc:dd:ee:ff` for `ip`.
  public static func macText(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
  }
}
