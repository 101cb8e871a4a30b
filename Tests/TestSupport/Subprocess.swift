import Foundation
import Glibc

/// Runs a command line tool (`ip`, `nft`, `tcpdump`, ...) for a test, bounded in time.
///
/// Output goes to temporary files, not pipes, so a chatty child never blocks on a full pipe. A
/// child still running after `timeout` seconds is sent SIGTERM, then SIGKILL.
public enum Subprocess {
  /// Where the child's standard error goes.
  public enum ErrorOutput: Sendable {
    /// Into the same text as standard output (`output`).
    case merged
    /// Into its own text (`errorOutput`).
    case separate
    /// To /dev/null.
    case discarded
  }

  /// What a finished (or killed) child left.
  public struct Output: Sendable {
    public var status: Int32
    /// Standard output (with standard error when `.merged`).
    public var output: String
    /// Standard error when `.separate`, else empty.
    public var errorOutput: String
    /// Whether the child was killed after the timeout.
    public var timedOut: Bool
  }

  /// Runs `arguments` (the first is looked up in `PATH` by `/usr/bin/env`, or is a full path).
  ///
  /// - Throws: when the child cannot be started or the temporary files cannot be made.
  public static func run(
    _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
    errorOutput: ErrorOutput = .merged, timeout: Double = 30
  ) throws -> Output {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let outPath = TemporaryFiles.path("subprocess-out")
    let errPath = TemporaryFiles.path("subprocess-err")
    defer {
      try? FileManager.default.removeItem(atPath: outPath)
      try? FileManager.default.removeItem(atPath: errPath)
    }
    guard FileManager.default.createFile(atPath: outPath, contents: nil),
      FileManager.default.createFile(atPath: errPath, contents: nil),
      let outHandle = FileHandle(forWritingAtPath: outPath),
      let errHandle = FileHandle(forWritingAtPath: errPath)
    else { throw TestSupportError("cannot create temporary files for \(arguments.first ?? "")") }
    defer {
      try? outHandle.close()
      try? errHandle.close()
    }
    process.standardOutput = outHandle
    switch errorOutput {
    case .merged: process.standardError = outHandle
    case .separate: process.standardError = errHandle
    case .discarded: process.standardError = FileHandle.nullDevice
    }
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    let timedOut = process.isRunning
    if timedOut {
      process.terminate()
      for _ in 0..<20 where process.isRunning { usleep(5_000) }
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
    func text(_ path: String) -> String {
      String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }
    return Output(
      status: process.terminationStatus, output: text(outPath),
      errorOutput: errorOutput == .separate ? text(errPath) : "", timedOut: timedOut)
  }

  /// `run`, reduced to (status, output) as most tests use it.
  @discardableResult
  public static func status(
    _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
    errorOutput: ErrorOutput = .merged, timeout: Double = 30
  ) throws -> (status: Int32, output: String) {
    let result = try run(
      arguments, environment: environment, directory: directory, errorOutput: errorOutput, timeout: timeout)
    return (result.status, result.output)
  }
}

/// Fresh paths in the temporary directory: the pid and a process-wide counter keep parallel
/// tests (and parallel test processes) apart.
public enum TemporaryFiles {
  nonisolated(unsafe) private static var counter = 0
  private static let lock = NSLock()

  /// A path nobody else uses, ending in `suffix`. Nothing is created.
  public static func path(_ suffix: String) -> String {
    let value = lock.withLock {
      counter += 1
      return counter
    }
    return NSTemporaryDirectory() + "tcpcraft-test-\(getpid())-\(value)-\(suffix)"
  }
}

/// An error from a test helper, with a message saying what failed.
public struct TestSupportError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
