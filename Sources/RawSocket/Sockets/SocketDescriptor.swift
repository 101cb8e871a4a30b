import CRawSocket

/// An open socket file descriptor.
///
/// The caller owns the descriptor's lifetime: nothing closes it implicitly. Use `close()` or
/// `closeAfter(_:)`. Modelled on swift-system's `FileDescriptor`.
public struct SocketDescriptor: RawRepresentable, Hashable, Sendable {
  /// The raw C file descriptor.
  public let rawValue: CInt
  public init(rawValue: CInt) { self.rawValue = rawValue }

  /// Opens a socket.
  ///
  /// The corresponding C function is `socket(2)`.
  public static func open(
    domain: CInt, type: CInt, protocol proto: CInt
  ) throws(Errno) -> SocketDescriptor {
    try valueOrErrno(retryOnInterrupt: false) {
      system_socket(domain, type | CInt(SOCK_CLOEXEC.rawValue), proto)
    }.map(SocketDescriptor.init(rawValue:)).get()
  }

  /// Closes the descriptor. Never retried on `EINTR` (the descriptor is gone either way on Linux).
  ///
  /// The corresponding C function is `close(2)`.
  public func close() throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: false) { system_close(rawValue) }.get()
  }

  /// Runs `body`, then closes the descriptor, whether `body` threw or not.
  public func closeAfter<R>(_ body: () throws -> R) throws -> R {
    defer { try? close() }
    return try body()
  }

  /// Sets a socket option whose value is a plain C value (an `int`, a struct).
  ///
  /// The corresponding C function is `setsockopt(2)`.
  public func setOption<T>(level: CInt, name: CInt, value: T) throws(Errno) {
    var value = value
    _ = try valueOrErrno(retryOnInterrupt: false) {
      withUnsafeBytes(of: &value) { raw in
        system_setsockopt(rawValue, level, name, raw.baseAddress, socklen_t(raw.count))
      }
    }.get()
  }

  /// Sets a socket option from raw bytes (a BPF program, a variable-size struct).
  ///
  /// The corresponding C function is `setsockopt(2)`.
  public func setOption(level: CInt, name: CInt, bytes: UnsafeRawBufferPointer) throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: false) {
      system_setsockopt(rawValue, level, name, bytes.baseAddress, socklen_t(bytes.count))
    }.get()
  }

  /// Reads a socket option into a plain C value of type `T`.
  ///
  /// The corresponding C function is `getsockopt(2)`.
  public func option<T>(level: CInt, name: CInt, as type: T.Type, initial: T) throws(Errno) -> T {
    var value = initial
    var length = socklen_t(MemoryLayout<T>.size)
    _ = try valueOrErrno(retryOnInterrupt: false) {
      withUnsafeMutableBytes(of: &value) { raw in
        system_getsockopt(rawValue, level, name, raw.baseAddress, &length)
      }
    }.get()
    return value
  }
}
