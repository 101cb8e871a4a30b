import CRawSocket

/// The events `poll(2)` waits for and reports.
///
/// A struct over the C `short` bit mask, open to any value.
public struct PollEvents: OptionSet, Hashable, Sendable {
  public let rawValue: Int16
  public init(rawValue: Int16) { self.rawValue = rawValue }

  /// Data is waiting to be read. The corresponding C constant is `POLLIN`.
  public static var readable: PollEvents { PollEvents(rawValue: Int16(POLLIN)) }
  /// Writing will not block. The corresponding C constant is `POLLOUT`.
  public static var writable: PollEvents { PollEvents(rawValue: Int16(POLLOUT)) }
  /// An error is pending on the socket (reported only). The corresponding C constant is `POLLERR`.
  public static var error: PollEvents { PollEvents(rawValue: Int16(POLLERR)) }
  /// The peer hung up (reported only). The corresponding C constant is `POLLHUP`.
  public static var hangUp: PollEvents { PollEvents(rawValue: Int16(POLLHUP)) }
  /// The descriptor is not open (reported only). The corresponding C constant is `POLLNVAL`.
  public static var invalid: PollEvents { PollEvents(rawValue: Int16(POLLNVAL)) }
}

extension Duration {
  /// Whole milliseconds for `poll(2)`, rounded up so that a short positive wait never becomes a
  /// busy loop, clamped to `0...Int32.max`.
  internal var pollMilliseconds: CInt {
    let (seconds, attoseconds) = components
    if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
    if seconds >= Int64(CInt.max / 1000) { return CInt.max }
    let fraction = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    return CInt(seconds * 1000 + fraction)
  }
}

extension SocketDescriptor {
  /// Waits until one of `events` is ready, or `timeout` passes. Never blocks forever.
  ///
  /// - Parameters:
  ///   - events: what to wait for (`.readable`, `.writable`).
  ///   - timeout: the longest wait; zero or negative polls once without waiting.
  ///   - retryOnInterrupt: on `EINTR`, wait again for the time that is left (default `true`).
  /// - Returns: the events that are ready; empty when the timeout passed first.
  /// - Throws: `Errno`.
  ///
  /// The corresponding C function is `poll(2)`.
  public func poll(
    for events: PollEvents, timeout: Duration, retryOnInterrupt: Bool = true
  ) throws(Errno) -> PollEvents {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    var entry = pollfd(fd: rawValue, events: events.rawValue, revents: 0)
    var milliseconds = timeout.pollMilliseconds
    while true {
      entry.revents = 0
      let result = system_poll(&entry, 1, milliseconds)
      if result >= 0 { return result == 0 ? [] : PollEvents(rawValue: entry.revents) }
      let error = Errno(rawValue: system_errno())
      guard retryOnInterrupt, error == .interrupted else { throw error }
      milliseconds = (deadline - clock.now).pollMilliseconds
    }
  }
}
