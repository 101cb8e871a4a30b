// A seam for tests, after swift-system's MockingDriver: under ENABLE_MOCKING (debug builds) every
// `system_*` function first asks the current driver whether to fail with a forced errno, and the
// driver records each call. Without a driver installed (the normal case) calls go straight to the
// kernel. The driver is task-local, so parallel tests never see each other's forced errors.
// The driver type exists in every build (so tests compile in release too); only debug builds
// route calls through it (`MockingDriver.isAvailable`).
import CRawSocket

/// One recorded system call: its name and its integer arguments (descriptors, levels, flags,
/// lengths, timeouts; pointers are left out).
internal struct MockTraceEntry: Hashable, Sendable, CustomStringConvertible {
  internal var name: String
  internal var arguments: [Int]

  internal init(_ name: String, _ arguments: [Int]) {
    self.name = name
    self.arguments = arguments
  }

  internal var description: String {
    "\(name)(\(arguments.map(String.init).joined(separator: ", ")))"
  }
}

/// Records system calls and forces errors, for the task that installed it.
internal final class MockingDriver: @unchecked Sendable {
  /// Every call made while the driver was installed, in order.
  internal private(set) var trace: [MockTraceEntry] = []
  /// Errnos still to be forced, per function name (without the `system_` prefix), in order.
  private var forced: [String: [CInt]] = [:]

  @TaskLocal internal static var current: MockingDriver?

  /// Whether `system_*` calls consult the driver (debug builds, `ENABLE_MOCKING`).
  internal static var isAvailable: Bool {
    #if ENABLE_MOCKING
    true
    #else
    false
    #endif
  }

  internal init() {}

  /// Makes the next `times` calls of `function` (e.g. `"poll"`) fail with `errno`, without
  /// reaching the kernel.
  internal func force(_ errno: Errno, on function: String, times: Int = 1) {
    forced[function, default: []].append(contentsOf: repeatElement(errno.rawValue, count: max(0, times)))
  }

  /// The names of the recorded calls, in order.
  internal var calls: [String] { trace.map(\.name) }

  /// Runs `body` with a fresh driver installed for the current task.
  internal static func withMocking<R>(_ body: (MockingDriver) throws -> R) rethrows -> R {
    let driver = MockingDriver()
    return try $current.withValue(driver) { try body(driver) }
  }

  /// Records the call; returns the errno to force, if one is queued for `function`.
  fileprivate func intercept(_ function: String, _ arguments: [Int]) -> CInt? {
    trace.append(MockTraceEntry(function, arguments))
    guard var queue = forced[function], !queue.isEmpty else { return nil }
    let value = queue.removeFirst()
    forced[function] = queue
    return value
  }
}

#if ENABLE_MOCKING
/// Called first by each `system_*` function: `-1` with `errno` set when the driver forces an
/// error, `nil` to go on to the real call.
internal func mockingIntercept(_ function: String, _ arguments: Int...) -> CInt? {
  guard let driver = MockingDriver.current,
    let value = driver.intercept(function, arguments)
  else { return nil }
  crawsocket_set_errno(value)
  return -1
}
#endif
