import Foundation
import PacketKit
import TestSupport

/// Helpers for the formatting and pcap tests: running real tools (tcpdump, tshark) with a time
/// limit, temporary files, hex fixtures.
enum FormatTools {
  /// The full path of an installed tool, or nil.
  static func path(_ name: String) -> String? { Privileges.toolPath(name) }

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
    let result = try Subprocess.run([executable] + arguments, errorOutput: .separate, timeout: timeout)
    if result.timedOut {
      throw Failure(description: "\(tool) \(arguments.joined(separator: " ")) took more than \(timeout) s")
    }
    return Output(status: result.status, stdout: result.output, stderr: result.errorOutput)
  }

  /// A fresh path in the temporary directory (pid and a counter keep parallel tests apart).
  static func temporaryPath(_ suffix: String) -> String { TemporaryFiles.path(suffix) }

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

  /// Real kernel traffic on 127.0.0.1:`port`: a TCP connection (handshake, "hello" one way,
  /// "world!" back, close) then UDP datagrams of 0, 1 and 2 bytes ("x"). Every call is bounded by
  /// 5-second socket timeouts.
  static func loopbackTraffic(port: UInt16) throws {
    func check(_ value: Int32, _ what: String) throws {
      if value < 0 { throw Failure(description: "\(what): errno \(errno)") }
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    func withAddress<T>(_ body: (UnsafePointer<sockaddr>) -> T) -> T {
      withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }
    func limit(_ fd: Int32) {
      var timeout = timeval(tv_sec: 5, tv_usec: 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try check(listener, "socket")
    defer { close(listener) }
    var one: Int32 = 1
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    limit(listener)
    try check(withAddress { bind(listener, $0, length) }, "bind")
    try check(listen(listener, 1), "listen")
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try check(client, "socket")
    limit(client)
    try check(withAddress { connect(client, $0, length) }, "connect")
    let server = accept(listener, nil, nil)
    try check(server, "accept")
    limit(server)
    var buffer = [UInt8](repeating: 0, count: 16)
    try check(Int32(send(client, "hello", 5, 0)), "send")
    try check(Int32(recv(server, &buffer, 16, 0)), "recv")
    try check(Int32(send(server, "world!", 6, 0)), "send")
    try check(Int32(recv(client, &buffer, 16, 0)), "recv")
    close(client)
    _ = recv(server, &buffer, 16, 0)  // the FIN: 0 bytes
    close(server)
    let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    try check(udp, "socket")
    defer { close(udp) }
    for size in 0..<3 {
      let payload = [UInt8](repeating: 0x78, count: size)
      try check(Int32(withAddress { sendto(udp, payload, size, 0, $0, length) }), "sendto")
    }
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
    case .raw, .ipv4, .ipv6:
      return packet
    }
  }
}
