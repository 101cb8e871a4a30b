import CRawSocket

/// Runs code with the calling thread inside another network namespace, so that sockets opened
/// there belong to that namespace (a socket keeps its namespace for life).
///
/// Namespaces made by `ip netns add NAME` are files under `/var/run/netns/`.
public enum NetworkNamespace {
  /// `CLONE_NEWNET`.
  private static let cloneNewNet: CInt = 0x4000_0000

  /// Switches the calling thread into the namespace at `path`, runs `body`, and switches back,
  /// whether `body` threw or not. `body` is synchronous, so it runs on this thread throughout;
  /// other threads are not affected. Needs `CAP_SYS_ADMIN`.
  ///
  /// - Parameter path: a namespace file: `/var/run/netns/NAME` or `/proc/PID/ns/net`.
  /// - Throws: `SocketError.system(operation: "setns", ...)` or `open`, or what `body` throws.
  ///
  /// The corresponding C function is `setns(2)`.
  public static func run<R>(inNamespaceAt path: String, _ body: () throws -> R) throws -> R {
    let original = system_openReadOnly("/proc/thread-self/ns/net")
    guard original >= 0 else {
      throw SocketError.system(operation: "open(/proc/thread-self/ns/net)", Errno(rawValue: system_errno()))
    }
    defer { _ = system_close(original) }
    let target = system_openReadOnly(path)
    guard target >= 0 else {
      throw SocketError.system(operation: "open(\(path))", Errno(rawValue: system_errno()))
    }
    defer { _ = system_close(target) }
    guard system_setns(target, cloneNewNet) == 0 else {
      throw SocketError.system(operation: "setns(\(path))", Errno(rawValue: system_errno()))
    }
    var restored = false
    defer {
      if !restored { _ = system_setns(original, cloneNewNet) }
    }
    let result = try body()
    restored = true
    guard system_setns(original, cloneNewNet) == 0 else {
      throw SocketError.system(operation: "setns(back)", Errno(rawValue: system_errno()))
    }
    return result
  }

  /// Runs `body` inside the namespace `ip netns add name` created (`/var/run/netns/name`).
  public static func run<R>(named name: String, _ body: () throws -> R) throws -> R {
    try run(inNamespaceAt: "/var/run/netns/" + name, body)
  }
}
