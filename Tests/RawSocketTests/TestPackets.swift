// Hand-made packets and small kernel helpers for RawSocket's tests. RawSocket must not depend on
// PacketKit, so the tests write bytes themselves: an RFC 1071 checksum, an IPv4 header, a TCP
// header, an Ethernet header.
import CRawSocket
import Foundation
import Glibc
import RawSocket
import TestSupport

enum TestPackets {
  static func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
    HandBuilt.checksum(bytes, initial: initial)
  }
  static func be16(_ value: UInt16) -> [UInt8] { HandBuilt.be16(value) }
  static func be32(_ value: UInt32) -> [UInt8] { HandBuilt.be32(value) }

  /// A 20-byte IPv4 header (DF set) followed by `payload`; checksum correct unless `badChecksum`.
  static func ipv4(
    source: UInt32, destination: UInt32, protocol proto: UInt8, identification: UInt16,
    payload: [UInt8], ttl: UInt8 = 64, badChecksum: Bool = false
  ) -> [UInt8] {
    HandBuilt.ipv4(
      source: source, destination: destination, protocol: proto, identification: identification,
      payload: payload, ttl: ttl, badChecksum: badChecksum)
  }

  /// A 20-byte TCP header (no options) with `payload`, checksum over the pseudo-header.
  static func tcp(
    source: UInt32, destination: UInt32, sourcePort: UInt16, destinationPort: UInt16,
    sequence: UInt32, acknowledgment: UInt32 = 0, flags: UInt8 = 0x02, window: UInt16 = 65_535,
    payload: [UInt8] = [], badChecksum: Bool = false
  ) -> [UInt8] {
    HandBuilt.tcp(
      source: source, destination: destination, sourcePort: sourcePort, destinationPort: destinationPort,
      sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: window, payload: payload,
      badChecksum: badChecksum)
  }

  /// A whole IPv4 TCP SYN.
  static func syn(
    source: UInt32 = 0x7F00_0001, destination: UInt32 = 0x7F00_0001, sourcePort: UInt16,
    destinationPort: UInt16, sequence: UInt32, identification: UInt16 = 0x1234,
    badTCPChecksum: Bool = false, badIPChecksum: Bool = false
  ) -> [UInt8] {
    let segment = tcp(
      source: source, destination: destination, sourcePort: sourcePort,
      destinationPort: destinationPort, sequence: sequence, badChecksum: badTCPChecksum)
    return ipv4(
      source: source, destination: destination, protocol: 6, identification: identification,
      payload: segment, badChecksum: badIPChecksum)
  }

  static func ethernet(destination: [UInt8], source: [UInt8], type: UInt16 = 0x0800, payload: [UInt8]) -> [UInt8] {
    destination + source + be16(type) + payload
  }
}

/// The TCP fields a test looks at, read from a captured Ethernet frame (IPv4 at offset 14).
struct SeenSegment: Equatable {
  var sourcePort: UInt16
  var destinationPort: UInt16
  var sequence: UInt32
  var flags: UInt8
  var identification: UInt16

  init?(frame bytes: [UInt8]) {
    guard bytes.count >= 14 + 20, bytes[12] == 0x08, bytes[13] == 0x00, bytes[14] >> 4 == 4,
      bytes[14 + 9] == 6
    else { return nil }
    let tcp = 14 + Int(bytes[14] & 0x0F) * 4
    guard bytes.count >= tcp + 20 else { return nil }
    func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) }
    sourcePort = u16(tcp)
    destinationPort = u16(tcp + 2)
    sequence = UInt32(u16(tcp + 4)) << 16 | UInt32(u16(tcp + 6))
    flags = bytes[tcp + 13]
    identification = u16(14 + 4)
  }

  var isSYNACK: Bool { flags & 0x12 == 0x12 && flags & 0x04 == 0 }
  var isPlainSYN: Bool { flags & 0x12 == 0x02 && flags & 0x04 == 0 }
}

/// A real kernel TCP listener on 127.0.0.1, ephemeral port.
final class KernelListener {
  let descriptor: CInt
  let port: UInt16

  init(address: UInt32 = 0x7F00_0001) throws {
    (descriptor, port) = try KernelSockets.listener(address: address, backlog: 16, reuseAddress: true)
  }

  deinit { Glibc.close(descriptor) }
}

enum TestNet {
  /// A source port below Linux's ephemeral range, different for every call in this process.
  static func randomPort() -> UInt16 { KernelSockets.sourcePort() }

  /// A port of its own, a plain capture of its TCP traffic on lo, and a raw socket to send with
  /// (the caller closes both).
  static func loopbackCapture() throws -> (port: UInt16, capture: PacketSocket, sender: RawIPv4Socket) {
    let port = randomPort()
    let capture = try PacketSocket(interface: "lo", filter: tcpPortFilter(port))
    do {
      return (port, capture, try RawIPv4Socket())
    } catch {
      capture.close()
      throw error
    }
  }

  /// Hand-written BPF: IPv4 TCP frames (Ethernet) whose source or destination port is `port`.
  static func tcpPortFilter(_ port: UInt16) -> BPFProgram {
    let p = UInt32(port)
    return BPFProgram([
      .load(size: BPFOpcode.halfword, absolute: 12),                   // 0: ldh [12]
      .jump(BPFOpcode.equal, 0x0800, ifTrue: 0, ifFalse: 8),           // 1: IPv4?  -> 10
      .load(size: BPFOpcode.byte, absolute: 23),                       // 2: ldb [23]
      .jump(BPFOpcode.equal, 6, ifTrue: 0, ifFalse: 6),                // 3: TCP?   -> 10
      .loadIPv4HeaderLength(at: 14),                                   // 4: ldxb 4*([14]&0xf)
      .load(size: BPFOpcode.halfword, indirect: 14),                   // 5: ldh [x+14]
      .jump(BPFOpcode.equal, p, ifTrue: 2, ifFalse: 0),                // 6: sport? -> 9
      .load(size: BPFOpcode.halfword, indirect: 16),                   // 7: ldh [x+16]
      .jump(BPFOpcode.equal, p, ifTrue: 0, ifFalse: 1),                // 8: dport? -> 9 / 10
      .return(262_144),                                                // 9
      .return(0),                                                      // 10
    ])
  }

  /// Receives frames until `enough` says so (then waits `settle` more for stragglers, which
  /// would show duplicates), or `limit` passes. Bounded in time and count.
  static func collect(
    _ socket: PacketSocket, limit: Duration = .seconds(3), settle: Duration = .milliseconds(300),
    enough: ([CapturedFrame]) -> Bool
  ) throws -> [CapturedFrame] {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: limit)
    var frames: [CapturedFrame] = []
    var settleEnd: ContinuousClock.Instant? = nil
    while frames.count < 100_000 {
      let now = clock.now
      let stop = min(end, settleEnd ?? end)
      if now >= stop { break }
      if let frame = try socket.receive(timeout: stop - now) { frames.append(frame) }
      if settleEnd == nil, enough(frames) { settleEnd = clock.now.advanced(by: settle) }
    }
    return frames
  }

  /// Runs a command, returns (status, stdout+stderr). Bounded by `timeout` seconds.
  @discardableResult
  static func run(_ arguments: [String], environment: [String: String]? = nil, timeout: Double = 30)
    throws -> (status: Int32, output: String)
  {
    try Subprocess.status(arguments, environment: environment, directory: "/tmp", timeout: timeout)
  }
}
