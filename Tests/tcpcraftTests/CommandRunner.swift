import Foundation
import TestSupport
import Testing

/// Runs the built `tcpcraft` binary as a subprocess, the way a user does, and collects its exit
/// status and output. Every run is bounded by a timeout (the process is killed after it).
struct CommandRunner {
  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    var errorLines: [String] { stderr.split(separator: "\n").map(String.init) }
  }

  /// The `tcpcraft` executable next to the test bundle in the build directory (or
  /// `$TCPCRAFT_BINARY`).
  static let binary: String? = BuiltExecutable.path(named: "tcpcraft", environmentVariable: "TCPCRAFT_BINARY")

  /// A fresh session directory per test, so that parallel tests never see each other's sessions.
  let sessionDirectory: String

  init() {
    sessionDirectory = NSTemporaryDirectory() + "tcpcraft-test-\(getpid())-\(UUID().uuidString.prefix(8))"
  }

  /// Runs `tcpcraft arguments...` (optionally behind `prefix`, e.g. setpriv) in `directory`.
  func run(
    _ arguments: [String], prefix: [String] = [], directory: String? = nil, timeout: TimeInterval = 20,
    binary: String? = nil
  ) throws -> Result {
    try start(arguments, prefix: prefix, directory: directory, binary: binary).finish(timeout: timeout)
  }

  /// A running `tcpcraft`: its output is collected until `finish`.
  final class Running: @unchecked Sendable {
    let process: Process
    let group = DispatchGroup()
    let outBox = DataBox()
    let errBox = DataBox()

    init(process: Process, out: Pipe, err: Pipe) {
      self.process = process
      for (pipe, box) in [(out, outBox), (err, errBox)] {
        group.enter()
        // A thread of its own, not a global queue's: a read blocks for as long as the command
        // runs, and the global pool on Linux is small (about a worker a CPU), so a long command (a
        // probe, a listen) used to starve the readers of every other test's command.
        Thread { [group] in
          // Read as it comes (bounded by the pipe's end), so a test can wait for a line.
          let handle = pipe.fileHandleForReading
          for _ in 0..<1_000_000 {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            box.append(chunk)
          }
          group.leave()
        }.start()
      }
    }

    /// Waits (bounded) until the standard output so far satisfies `condition`; false on timeout.
    /// A wait on what the command says it did, never a guess at how long it takes.
    /// Waits (bounded) until `sniff` says on stderr that its capture is open (after it opened it).
    func waitUntilCapturing(timeout: TimeInterval = 20) -> Bool {
      waitForOutput(standardError: true, timeout: timeout) { lines in lines.contains { $0.contains("listening on ") } }
    }

    /// `standardError`: the same on what it printed there.
    func waitForOutput(standardError: Bool = false, timeout: TimeInterval = 20, _ condition: ([String]) -> Bool) -> Bool {
      let box = standardError ? errBox : outBox
      let deadline = Date().addingTimeInterval(timeout)
      repeat {
        let lines = String(decoding: box.data, as: UTF8.self).split(separator: "\n").map(String.init)
        if condition(lines) { return true }
        usleep(5_000)
      } while Date() < deadline
      return false
    }

    /// Waits (bounded) for the process to end, killing it after `timeout`.
    func finish(timeout: TimeInterval = 20) -> Result {
      let deadline = Date().addingTimeInterval(timeout)
      while process.isRunning && Date() < deadline { usleep(5000) }
      if process.isRunning {
        process.terminate()
        usleep(100_000)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      }
      process.waitUntilExit()
      _ = group.wait(timeout: .now() + 5)
      return Result(
        status: process.terminationStatus,
        stdout: String(decoding: outBox.data, as: UTF8.self),
        stderr: String(decoding: errBox.data, as: UTF8.self))
    }
  }

  /// Starts `tcpcraft arguments...` without waiting for it.
  /// (`sniff` says "listening on" on stderr once its capture is open: see `waitUntilCapturing`.)
  func start(_ arguments: [String], prefix: [String] = [], directory: String? = nil, binary: String? = nil) throws -> Running {
    guard let binary = binary ?? CommandRunner.binary else { throw RunnerError("tcpcraft binary not found; build it first") }
    let process = Process()
    let command = prefix + [binary] + arguments
    process.executableURL = URL(fileURLWithPath: command[0].hasPrefix("/") ? command[0] : "/usr/bin/env")
    process.arguments = command[0].hasPrefix("/") ? Array(command.dropFirst()) : command
    var environment = ProcessInfo.processInfo.environment
    environment["TCPCRAFT_SESSION_DIR"] = sessionDirectory
    process.environment = environment
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Both pipes are read while the process runs (no deadlock on full pipes).
    return Running(process: process, out: out, err: err)
  }

  /// Output of a helper command (`nft list tables`, `tcpdump -r`).
  static func shell(_ command: [String]) -> String {
    (try? Subprocess.run(command, errorOutput: .discarded).output) ?? ""
  }

  func cleanUp() {
    try? FileManager.default.removeItem(atPath: sessionDirectory)
  }
}

/// Bytes appended by a reader thread and read by the test: behind a lock.
final class DataBox: @unchecked Sendable {
  private let lock = NSLock()
  private var bytes = Data()
  var data: Data { lock.withLock { bytes } }
  func append(_ chunk: Data) { lock.withLock { bytes.append(chunk) } }
}

struct RunnerError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

extension CommandRunner.Result {
  /// Every stdout line that is a JSON object (what `--json` prints), parsed.
  var jsonObjects: [[String: Any]] {
    lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
  }

  /// The guard holder's pid from the last JSON line's `guard_pid` (handshake `--json`).
  var guardHolderPID: Int32? { (jsonObjects.last?["guard_pid"] as? String).flatMap { Int32($0) } }
}

extension CommandRunner {
  /// `handshake` to `server` (`--json`), which must succeed: the pid of the guard holder it left.
  func establish(_ server: Listener, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int32 {
    let host = server.ipv6 ? "[::1]" : "127.0.0.1"
    let handshake = try run(["handshake", "\(host):\(server.port)", "--json"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)", sourceLocation: sourceLocation)
    return try #require(handshake.guardHolderPID, sourceLocation: sourceLocation)
  }

  /// Whether nftables still has a table of the RST guard held by `holder`.
  static func guardTablesExist(holder: Int32) -> Bool {
    shell(["nft", "list", "tables"]).contains("tcpcraft_\(holder)_")
  }
}
