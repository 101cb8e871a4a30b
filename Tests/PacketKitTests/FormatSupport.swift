import Foundation
import PacketKit

/// Helpers for the formatting and pcap tests: running real tools (tcpdump, tshark) with a time
/// limit, temporary files, hex fixtures.
enum FormatTools {
  /// The full path of an installed tool, or nil.
  static func path(_ name: String) -> String? {
    for directory in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"] {
      let candidate = "\(directory)/\(name)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
  }

  struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
    var lines: [String] {
      stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        .dropLast(stdout.hasSuffix("\n") ? 1 : 0).map { $0 }
    }
  }

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Runs `tool` with `arguments`, killing it after `timeout` seconds. Output goes through
  /// temporary files so a chatty tool never blocks on a full pipe.
  static func run(_ tool: String, _ arguments: [String], timeout: Double = 30) throws -> Output {
    guard let executable = path(tool) else { throw Failure(description: "\(tool) is not installed") }
    let outPath = temporaryPath("\(tool)-out.txt")
    let errPath = temporaryPath("\(tool)-err.txt")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
      try? FileManager.default.removeItem(atPath: outPath)
      try? FileManager.default.removeItem(atPath: errPath)
    }
    guard let outHandle = FileHandle(forWritingAtPath: outPath),
      let errHandle = FileHandle(forWritingAtPath: errPath)
    else { throw Failure(description: "cannot create temporary files") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
      throw Failure(description: "\(tool) \(arguments.joined(separator: " ")) took more than \(timeout) s")
    }
    process.waitUntilExit()
    try? outHandle.close()
    try? errHandle.close()
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return Output(status: process.terminationStatus, stdout: stdout, stderr: stderr)
  }

  nonisolated(unsafe) private static var counter = 0
  private static let lock = NSLock()

  /// A fresh path in the temporary directory (pid and a counter keep parallel tests apart).
  static func temporaryPath(_ suffix: String) -> String {
    lock.lock()
    counter += 1
    let value = counter
    lock.unlock()
    return NSTemporaryDirectory() + "/pkformat-\(getpid())-\(value)-\(suffix)"
  }

  /// Writes `bytes` to a fresh temporary file and returns its path.
  static func writeTemporary(_ bytes: [UInt8], suffix: String) throws -> String {
    let path = temporaryPath(suffix)
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
      throw Failure(description: "cannot write \(path)")
    }
    return path
  }

  /// Bytes from a hex string (whitespace ignored). Test-only input: traps on bad hex.
  static func bytes(hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace }.map { $0 }
    var result: [UInt8] = []
    var index = 0
    while index + 1 < digits.count {
      result.append(UInt8(String(digits[index...index + 1]), radix: 16)!)
      index += 2
    }
    return result
  }

  /// Hand-written link-layer headers in front of an IPv4 packet.
  static func frame(_ packet: [UInt8], linkType: LinkType) -> [UInt8] {
    switch linkType {
    case .ethernet:
      // dst 00:11:22:33:44:55, src 66:77:88:99:aa:bb, EtherType IPv4
      return [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x08, 0x00] + packet
    case .null:
      return [0x02, 0x00, 0x00, 0x00] + packet  // AF_INET, little-endian host
    case .linuxSLL:
      // packet type 0 (to us), ARPHRD_ETHER, address length 6, address + 2 pad, protocol IPv4
      return [0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x00, 0x00, 0x08, 0x00]
        + packet
    case .linuxSLL2:
      // protocol IPv4, reserved, ifindex 1, ARPHRD_ETHER, packet type 0, address length 6, address
      return [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x06,
              0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x00, 0x00] + packet
    case .raw, .ipv4:
      return packet
    }
  }
}
