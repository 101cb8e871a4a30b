// Sending at rate over IPv6 against the real kernel (root): SYN bursts to a closed port on ::1
// through RawIPv6Transmitter (raw AF_INET6, sendmmsg), captured on lo.
import Foundation
import Glibc
import PacketKit
import RawSocket
import Testing
import TestSupport
@testable import TCPScript

enum RateIPv6Net {
  /// A port nobody listens on at ::1: bind a kernel socket to learn a free one, then close it.
  static func closedPort() throws -> UInt16 {
    let (fd, port) = try KernelSockets6.bound()
    close(fd)
    return port
  }

  /// The TCP flags byte of an Ethernet + IPv6 + TCP frame (no extension headers), if it is one.
  static func tcpFlags(_ frame: [UInt8]) -> UInt8? {
    guard frame.count >= 14 + 40 + 20, frame[12] == 0x86, frame[13] == 0xDD, frame[14 + 6] == 6 else { return nil }
    return frame[14 + 40 + 13]
  }

  static func isSYN(_ frame: [UInt8]) -> Bool { tcpFlags(frame).map { $0 & 0x17 == 0x02 } ?? false }

  /// "ip6 and tcp port P", compiled by our own compiler for Ethernet framing.
  static func filter(_ port: UInt16) throws -> BPFProgram {
    try CaptureFilter(parsing: "ip6 and tcp port \(port)").compile(for: .ethernet)
  }

  static func synTemplate(sourcePort: UInt16, destinationPort: UInt16) -> Packet {
    IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback, flowLabel: 0x12345)
      / TCPHeader(
        sourcePort: sourcePort, destinationPort: destinationPort, sequenceNumber: 0, flags: .syn, window: 64_240,
        options: [.maximumSegmentSize(65_476), .sackPermitted, .noOperation, .windowScale(7)])
  }
}

@Suite("Rate sending over IPv6 on the real kernel", .serialized)
struct RateIPv6KernelTests {
  @Test(
    "500 SYNs at 5000/s to a closed port on ::1: every one captured on lo, in order, byte-exact; the kernel resets each",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func pacedBurstToLoopback6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = KernelSockets.sourcePort()
    let closed = try RateIPv6Net.closedPort()
    let capture = try PacketSocket(interface: "lo", filter: try RateIPv6Net.filter(sourcePort), receiveBufferSize: 4 << 20)
    defer { capture.close() }
    let socket = try RawIPv6Socket()
    defer { socket.close() }
    let count = 500
    var burst = try Burst(
      RateIPv6Net.synTemplate(sourcePort: sourcePort, destinationPort: closed),
      walks: [.sequenceNumber(start: 0xFFFF_FF00, step: 1), .flowLabel(start: 0xFFFF0, step: 1)])
    let sender = RateSender(
      burst: burst, transmitter: RawIPv6Transmitter(socket: socket, destination: .loopback, batchSize: 64),
      count: count, rate: 5000, maximumDuration: .seconds(20))
    #expect(sender.batchSize == 5)
    let report = try sender.run()
    #expect(report.stop == .count)
    #expect(report.sent == count)
    #expect(report.errors == 0)

    let frames = try RateTestNet.drain(capture, quiet: .milliseconds(400), limit: .seconds(10)).map(\.bytes)
    let syns = frames.filter(RateIPv6Net.isSYN)
    #expect(syns.count == count, "exactly \(count) SYNs on lo")
    var mismatches = 0
    for (index, frame) in syns.enumerated() where index < count {
      if Array(frame.dropFirst(14)) != (try burst.packet(at: index)) { mismatches += 1 }
    }
    #expect(mismatches == 0, "each captured IPv6 packet equals the one built for its index (the kernel rewrote nothing)")
    // Every TCP checksum is right (the IPv6 pseudo-header), and the flow label wrapped at 2^20.
    for frame in syns.prefix(count) {
      let dissection = dissect(ArraySlice(frame), linkType: .ethernet)
      #expect(dissection.problems.isEmpty, "\(dissection.problems)")
    }
    let labels = syns.map { UInt32($0[15] & 0x0F) << 16 | UInt32($0[16]) << 8 | UInt32($0[17]) }
    #expect(labels == (0..<count).map { (0xFFFF0 + UInt32($0)) & 0xF_FFFF })
    // Linux answers each SYN to a closed port with a RST (RFC 9293 §3.10.7.1): as many as SYNs.
    let resets = frames.filter { RateIPv6Net.tcpFlags($0).map { $0 & 0x04 != 0 } ?? false }
    #expect(resets.count == count)
  }

  @Test(
    "Unpaced: 3000 SYNs in sendmmsg batches of 256 to ::1, every one counted once",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func unpacedBatchesToLoopback6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = KernelSockets.sourcePort()
    let closed = try RateIPv6Net.closedPort()
    let capture = try RingCapture(
      interface: "lo", filter: try RateIPv6Net.filter(sourcePort), geometry: .receive(totalSize: 16 << 20, blockSize: 1 << 18))
    defer { capture.close() }
    let socket = try RawIPv6Socket()
    defer { socket.close() }
    let count = 3000
    let sender = RateSender(
      burst: try Burst(RateIPv6Net.synTemplate(sourcePort: sourcePort, destinationPort: closed), walks: [.sequenceNumber(start: 7)]),
      transmitter: RawIPv6Transmitter(socket: socket, destination: .loopback, batchSize: 256),
      count: count, maximumDuration: .seconds(20))
    let report = try sender.run()
    #expect(report.sent == count && report.errors == 0 && report.stop == .count)
    let frames = try capture.collect(limit: .seconds(10)) { $0.lazy.filter { RateIPv6Net.isSYN($0.bytes) }.count >= count }
    let sequences = frames.filter { RateIPv6Net.isSYN($0.bytes) }.map { frame in
      frame.bytes[(14 + 40 + 4)..<(14 + 40 + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
    #expect(sequences == (7..<UInt32(7 + count)).map { $0 })
    #expect(try capture.ring.statistics().drops == 0)
  }

  @Test(
    "A closed IPv6 socket refuses a batch; a batch to a destination of the wrong length is EINVAL",
    .enabled(if: Privileges.shouldRun(.netRaw), "needs CAP_NET_RAW"))
  func closedSocketAndBadDestination() throws {
    try Privileges.check(.netRaw)
    let socket = try RawIPv6Socket()
    let bad = IPv6SendBatch(destination: [1, 2, 3])
    bad.append([0x60, 0, 0, 0])
    #expect(throws: SocketError.self) { try socket.send(batch: bad) }
    socket.close()
    let batch = IPv6SendBatch(destination: KernelSockets6.loopback6)
    batch.append([0x60, 0, 0, 0])
    #expect(throws: SocketError.self) { try socket.send(batch: batch) }
  }
}
