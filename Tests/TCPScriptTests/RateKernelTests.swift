// Sending at rate and capturing at rate against the real kernel (root): bursts to a closed port
// on 127.0.0.1 captured by the TPACKET_V3 ring and by plain recvmsg, and a TX-ring burst over a
// veth into a namespace this test creates and always removes.
import Foundation
import Glibc
import PacketKit
import RawSocket
import Testing
import TestSupport
@testable import TCPScript

enum RateTestNet {
  /// A port nobody listens on: bind a kernel socket to learn a free one, then close it.
  static func closedPort() throws -> UInt16 { try KernelSockets.unusedPort() }

  static func randomPort() -> UInt16 { KernelSockets.sourcePort() }

  /// A loopback burst's ends: a source port of its own, a closed port on 127.0.0.1 to send to, a
  /// 4 MiB ring capture on lo of the source port's traffic and a raw socket to send with (the
  /// caller closes both).
  static func loopbackBurst() throws -> (sourcePort: UInt16, closed: UInt16, capture: RingCapture, socket: RawIPv4Socket) {
    let sourcePort = randomPort()
    let closed = try closedPort()
    let capture = try RingCapture(interface: "lo", filter: try portFilter(sourcePort), geometry: .receive(totalSize: 4 << 20, blockSize: 1 << 16))
    do {
      return (sourcePort, closed, capture, try RawIPv4Socket())
    } catch {
      capture.close()
      throw error
    }
  }

  /// "tcp port P", compiled by our own compiler for Ethernet framing.
  static func portFilter(_ port: UInt16) throws -> BPFProgram {
    try CaptureFilter(parsing: "tcp port \(port)").compile(for: .ethernet)
  }

  /// The TCP flags byte of an Ethernet+IPv4+TCP frame, if it is one.
  static func tcpFlags(_ frame: [UInt8]) -> UInt8? {
    guard frame.count >= 14 + 20, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 6 else { return nil }
    let offset = 14 + Int(frame[14] & 0x0F) * 4
    guard frame.count >= offset + 20 else { return nil }
    return frame[offset + 13]
  }

  static func isSYN(_ frame: [UInt8]) -> Bool { tcpFlags(frame).map { $0 & 0x17 == 0x02 } ?? false }

  /// Receives from a plain packet socket until nothing comes for `quiet`, bounded by `limit`.
  static func drain(_ socket: PacketSocket, quiet: Duration = .milliseconds(300), limit: Duration = .seconds(5)) throws -> [CapturedFrame] {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: limit)
    var frames: [CapturedFrame] = []
    while clock.now < end, frames.count < 1_000_000 {
      guard let frame = try socket.receive(timeout: quiet) else { break }
      frames.append(frame)
    }
    return frames
  }

  /// Runs a command (bounded), returns its status and output.
  @discardableResult
  static func run(_ arguments: [String], timeout: Double = 30) throws -> (status: Int32, output: String) {
    try Subprocess.status(arguments, timeout: timeout)
  }
}

/// A namespace with a veth pair: `host` end here (10.98.x.1, MAC 02:00:00:00:01:01), `inside`
/// end in the namespace (10.98.x.2, MAC 02:00:00:00:01:02). Names carry the pid and a counter.
final class RateNamespace {
  private let fixture: VethNamespaceFixture
  var name: String { fixture.name }
  var hostInterface: String { fixture.hostInterface }
  var insideInterface: String { fixture.namespaceInterface }
  let hostAddress: UInt32
  let insideAddress: UInt32
  static let hostMAC = MACAddress(0x02, 0, 0, 0, 0x01, 0x01)
  static let insideMAC = MACAddress(0x02, 0, 0, 0, 0x01, 0x02)

  init() throws {
    var hostAddress: UInt32 = 0
    var insideAddress: UInt32 = 0
    fixture = try VethNamespaceFixture(
      prefix: "tcrate", hostPrefix: "rth", namespacePrefix: "rtn", hostMAC: Self.hostMAC.description,
      namespaceMAC: Self.insideMAC.description
    ) { veth in
      let subnet = UInt32(veth.number % 250 + 1)
      hostAddress = 0x0A62_0001 | subnet << 8  // 10.98.N.1
      insideAddress = 0x0A62_0002 | subnet << 8  // 10.98.N.2
      let inside = IPv4Address(rawValue: insideAddress).description
      let host = IPv4Address(rawValue: hostAddress).description
      return [
        ["ip", "link", "set", veth.hostInterface, "up"],
        ["ip", "-n", veth.name, "link", "set", "lo", "up"],
        ["ip", "-n", veth.name, "link", "set", veth.namespaceInterface, "up"],
        ["ip", "-n", veth.name, "addr", "add", "\(inside)/24", "dev", veth.namespaceInterface],
        ["ip", "-n", veth.name, "neigh", "replace", host, "lladdr", Self.hostMAC.description, "dev",
         veth.namespaceInterface, "nud", "permanent"],
      ]
    }
    self.hostAddress = hostAddress
    self.insideAddress = insideAddress
  }

  func destroy() { fixture.destroy() }

  var isGone: Bool { fixture.isGone }
}

@Suite("Rate sending and ring capture on the real kernel", .serialized)
struct RateKernelTests {
  @Test(
    "2000 SYNs with walking seq to a closed port: every one captured, in order, byte-exact; ring == recvmsg",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func loopbackBurstByteExact() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = RateTestNet.randomPort()
    let closed = try RateTestNet.closedPort()
    let filter = try RateTestNet.portFilter(sourcePort)
    let capture = try RingCapture(interface: "lo", filter: filter, geometry: .receive(totalSize: 16 << 20, blockSize: 1 << 18))
    defer { capture.close() }
    let plain = try PacketSocket(interface: "lo", filter: filter, receiveBufferSize: 4 << 20)
    defer { plain.close() }
    let socket = try RawIPv4Socket()
    defer { socket.close() }

    let count = 2000
    // The IPv4 header is complete as built (ID non-zero, DF, right length and checksum), so the
    // kernel's rewrites (checksum, total length; ID and source when zero) change nothing.
    let template = synTemplate(sourcePort: sourcePort, destinationPort: closed)
    var burst = try Burst(template, walks: [.sequenceNumber(start: 0xFFFF_F000, step: 1), .identification(start: 1)])
    let sender = RateSender(
      burst: burst, transmitter: RawIPv4Transmitter(socket: socket, destination: .loopback, batchSize: 256),
      count: count, maximumDuration: .seconds(20))
    let report = try sender.run()
    #expect(report.stop == .count)
    #expect(report.sent == count)
    #expect(report.errors == 0)

    let ringFrames = try capture.collect(limit: .seconds(10)) { frames in
      frames.lazy.filter { RateTestNet.isSYN($0.bytes) }.count >= count
    }
    let plainFrames = try RateTestNet.drain(plain)
    let syns = ringFrames.filter { RateTestNet.isSYN($0.bytes) }
    #expect(syns.count == count)
    var mismatches = 0
    for (index, frame) in syns.enumerated() where index < count {
      let built = try burst.packet(at: index)
      if Array(frame.bytes.dropFirst(14)) != built { mismatches += 1 }
    }
    #expect(mismatches == 0, "each captured IPv4 packet equals the one built for its index")
    #expect(syns.allSatisfy { $0.bytes.prefix(14).allSatisfy { $0 == 0 } || Array($0.bytes[12..<14]) == [0x08, 0x00] })
    // The kernel answers each SYN with a RST; both captures saw the same frames in the same order.
    #expect(ringFrames.count == 2 * count)
    #expect(ringFrames.map(\.bytes) == plainFrames.map(\.bytes), "ring capture equals the recvmsg capture")
    #expect(ringFrames.map(\.checksumNotReady) == plainFrames.map(\.checksumNotReady))
    let statistics = try capture.ring.statistics()
    #expect(statistics.drops == 0)
    #expect(try plain.statistics().drops == 0)
  }

  @Test(
    "Paced send: every packet of a bounded burst arrives (counts only, no timing threshold)",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func pacedBurstArrives() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (sourcePort, closed, capture, socket) = try RateTestNet.loopbackBurst()
    defer { socket.close(); capture.close() }
    let count = 300
    let sender = RateSender(
      burst: try Burst(synTemplate(sourcePort: sourcePort, destinationPort: closed), walks: [.sequenceNumber(start: 1), .identification(start: 1)]),
      transmitter: RawIPv4Transmitter(socket: socket, destination: .loopback),
      count: count, rate: 5000, maximumDuration: .seconds(20))
    #expect(sender.batchSize == 5)
    var progress: [RateReport] = []
    sender.progressInterval = .milliseconds(10)
    sender.onProgress = { progress.append($0) }
    let report = try sender.run()
    #expect(report.sent == count)
    #expect(report.stop == .count)
    #expect(progress.map(\.sent) == progress.map(\.sent).sorted(), "progress only grows")
    let frames = try capture.collect(limit: .seconds(5)) { $0.lazy.filter { RateTestNet.isSYN($0.bytes) }.count >= count }
    let sequences = frames.filter { RateTestNet.isSYN($0.bytes) }.map { frame -> UInt32 in
      let tcp = 14 + Int(frame.bytes[14] & 0x0F) * 4
      return frame.bytes[(tcp + 4)..<(tcp + 8)].reduce(0) { $0 << 8 | UInt32($1) }
    }
    #expect(sequences == (1...UInt32(count)).map { $0 })
  }

  @Test(
    "A TX-ring burst over a veth arrives in the namespace, every frame, in order, byte-exact",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func transmitRingBurstOverVeth() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let namespace = try RateNamespace()
    defer {
      namespace.destroy()
      #expect(namespace.isGone)
    }
    let sourcePort = RateTestNet.randomPort()
    let capture = try NetworkNamespace.run(named: namespace.name) {
      try RingCapture(
        interface: namespace.insideInterface, filter: try RateTestNet.portFilter(sourcePort),
        ignoreOutgoing: true, geometry: .receive(totalSize: 8 << 20, blockSize: 1 << 16))
    }
    defer { capture.close() }
    let ring = try PacketTXRing(interface: namespace.hostInterface, maximumFrameLength: 64, geometry: .transmit(maximumFrameLength: 64, frames: 512))
    defer { ring.close() }

    let count = 3000
    let frame = EthernetHeader(destination: RateNamespace.insideMAC, source: RateNamespace.hostMAC)
      / IPv4Header(
        sourceAddress: IPv4Address(rawValue: namespace.hostAddress), destinationAddress: IPv4Address(rawValue: namespace.insideAddress),
        identification: 1, flags: .dontFragment)
      / TCPHeader(sourcePort: sourcePort, destinationPort: 9, flags: .syn)
    var burst = try Burst(frame, walks: [.sequenceNumber(start: 77, step: 7919), .identification(start: 100), .flags([.syn, [.syn, .ece, .cwr]])])
    #expect(burst.ipv4Offset == 14)
    let sender = RateSender(burst: burst, transmitter: TXRingTransmitter(ring: ring), count: count, maximumDuration: .seconds(20))
    #expect(sender.batchSize == ring.geometry.frameCount, "a whole ring a flush")
    #expect(ring.geometry.frameCount >= 512)
    let report = try sender.run()
    #expect(report.sent == count)
    #expect(report.errors == 0)

    let frames = try capture.collect(limit: .seconds(10)) { $0.count >= count }
    #expect(frames.count == count)
    var mismatches = 0
    for (index, captured) in frames.enumerated() where index < count {
      if captured.bytes != (try burst.packet(at: index)) { mismatches += 1 }
    }
    #expect(mismatches == 0, "every frame byte-exact, Ethernet header and IPv4 checksum included")
    #expect(frames.allSatisfy { $0.packetType == .host })
    #expect(try capture.ring.statistics().drops == 0)
  }

  @Test(
    "A pcap written from the ring reads back with the frames captured, and tcpdump reads it",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func pcapFromRing() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (sourcePort, closed, capture, socket) = try RateTestNet.loopbackBurst()
    defer { socket.close(); capture.close() }
    let sender = RateSender(
      burst: try Burst(synTemplate(sourcePort: sourcePort, destinationPort: closed), walks: [.sequenceNumber(start: 500)]),
      transmitter: RawIPv4Transmitter(socket: socket, destination: .loopback), count: 100)
    #expect(try sender.run().sent == 100)
    let path = NSTemporaryDirectory() + "tcpscript-ring-\(getpid())-\(sourcePort).pcap"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sink = try PcapFileSink(path: path)
    var kept: [[UInt8]] = []
    let report = try capture.run(count: 200, duration: .seconds(5)) { frame in
      try? sink.write(frame)
      kept.append(Array(frame.bytes))
    }
    try sink.close()
    #expect(report.captured == 200, "100 SYNs and the kernel's 100 RSTs")
    #expect(report.stop == .count)
    #expect(report.droppedByKernel == 0)
    #expect(report.receivedByFilter >= 200)
    let bytes = try #require(FileManager.default.contents(atPath: path))
    let (header, records) = try PcapReader.read(Array(bytes))
    #expect(header.linkType == .ethernet)
    #expect(records.map(\.data) == kept)
    if Privileges.haveTool("tcpdump") {
      let (status, output) = try RateTestNet.run(["tcpdump", "-nn", "-r", path])
      #expect(status == 0)
      #expect(output.split(separator: "\n").filter { $0.contains("Flags [S]") }.count == 100)
    }
  }

  @Test(
    "A flow's ring sees both directions of a real kernel connection, each segment once",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func flowCaptureBothDirections() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // A kernel listener and a kernel client on 127.0.0.1.
    let listener = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
    #expect(listener >= 0)
    defer { close(listener) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 && listen(listener, 4) == 0
      }
    }
    try #require(listening)
    let serverPort = UInt16(bigEndian: address.sin_port)
    let client = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
    defer { close(client) }
    // Bind the client first so that its port is known before the SYN.
    var clientAddress = sockaddr_in()
    clientAddress.sin_family = sa_family_t(AF_INET)
    clientAddress.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    var clientLength = socklen_t(MemoryLayout<sockaddr_in>.size)
    let clientBound = withUnsafeMutablePointer(to: &clientAddress) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(client, $0, clientLength) == 0 && getsockname(client, $0, &clientLength) == 0 }
    }
    try #require(clientBound)
    let clientPort = UInt16(bigEndian: clientAddress.sin_port)
    let capture = try RingCapture(
      flowBetween: Endpoint(address: .loopback, port: clientPort), and: Endpoint(address: .loopback, port: serverPort),
      interface: "lo", geometry: .receive(totalSize: 1 << 20, blockSize: 1 << 16))
    defer { capture.close() }
    let connected = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    try #require(connected)
    let message = Array("hello".utf8)
    #expect(message.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) } == 5)
    let frames = try capture.collect(limit: .seconds(3)) { frames in
      frames.contains { $0.bytes.count > 54 }  // the data segment
    }
    let directions = frames.compactMap { frame -> (UInt16, UInt16, UInt8)? in
      guard frame.bytes.count >= 54 else { return nil }
      let tcp = 14 + Int(frame.bytes[14] & 0x0F) * 4
      let source = UInt16(frame.bytes[tcp]) << 8 | UInt16(frame.bytes[tcp + 1])
      let destination = UInt16(frame.bytes[tcp + 2]) << 8 | UInt16(frame.bytes[tcp + 3])
      return (source, destination, frame.bytes[tcp + 13])
    }
    // SYN, SYN+ACK, ACK, then the data: in that order, each once.
    #expect(directions.count >= 4)
    guard directions.count >= 4 else { return }
    #expect(directions[0] == (clientPort, serverPort, 0x02))
    #expect(directions[1] == (serverPort, clientPort, 0x12))
    #expect(directions[2] == (clientPort, serverPort, 0x10))
    #expect(directions[3].0 == clientPort && directions[3].2 & 0x08 != 0, "the data segment (PSH)")
    #expect(Set(frames.map(\.bytes)).count == frames.count, "no duplicates on lo")
  }
}
