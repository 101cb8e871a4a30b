// The memory-mapped rings against the real kernel: a TPACKET_V2 transmit ring over a veth into
// a namespace the test creates, and a TPACKET_V3 receive ring checked against the plain
// recvmsg capture of the same traffic.
import CRawSocket
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite("Packet rings (PACKET_TX_RING, PACKET_RX_RING)")
struct RingTests {
  @Test("Ring geometry: the kernel's rules are checked before asking it")
  func geometryRules() {
    let page = system_pageSize()
    let transmit = PacketRingGeometry.transmit(maximumFrameLength: 54, frames: 1000)
    #expect(transmit.frameSize == 96, "32-byte tpacket2_hdr area + 54 bytes, rounded up to 16")
    #expect(transmit.blockSize % page == 0)
    #expect(transmit.frameCount >= 1000)
    #expect(transmit.validationProblem(minimumFrameSize: TPacket.v2HeaderLength) == nil)
    let big = PacketRingGeometry.transmit(maximumFrameLength: 65_535, frames: 10)
    #expect(big.framesPerBlock >= 1)
    #expect(big.validationProblem(minimumFrameSize: TPacket.v2HeaderLength) == nil)
    let receive = PacketRingGeometry.receive()
    #expect(receive.validationProblem(minimumFrameSize: TPacket.v3HeaderLength) == nil)
    #expect(receive.totalSize == 32 << 20)

    #expect(PacketRingGeometry(blockSize: page + 1, blockCount: 4, frameSize: 2048)
      .validationProblem(minimumFrameSize: 64) != nil)
    #expect(PacketRingGeometry(blockSize: page, blockCount: 4, frameSize: 2040)
      .validationProblem(minimumFrameSize: 64) != nil, "frame size not a multiple of 16")
    #expect(PacketRingGeometry(blockSize: page, blockCount: 0, frameSize: 2048)
      .validationProblem(minimumFrameSize: 64) != nil)
    #expect(PacketRingGeometry(blockSize: page, blockCount: 2, frameSize: 2 * page)
      .validationProblem(minimumFrameSize: 64) != nil, "a frame larger than a block")
    #expect(PacketRingGeometry(blockSize: page, blockCount: 2, frameSize: 32)
      .validationProblem(minimumFrameSize: TPacket.v2HeaderLength) != nil, "smaller than the header")
    #expect(TPacket.v2DataOffset == 32)
    #expect(TPacket.v3HeaderLength == 48 + 20)
  }

  @Test(
    "Opening rings: unknown interface and refused geometry are typed errors",
    .enabled(if: Privileges.shouldRun(.netRaw), "needs CAP_NET_RAW"))
  func openingErrors() throws {
    try Privileges.check(.netRaw)
    #expect(throws: SocketError.noSuchInterface("nosuch0ring")) {
      try PacketRXRing(interface: "nosuch0ring")
    }
    #expect(throws: SocketError.noSuchInterface("nosuch0ring")) {
      try PacketTXRing(interface: "nosuch0ring")
    }
    let bad = PacketRingGeometry(blockSize: 1000, blockCount: 1, frameSize: 128)
    #expect(throws: SocketError.self) { try PacketRXRing(interface: "lo", geometry: bad) }
  }

  @Test(
    "An RX ring with nothing to capture times out empty",
    .enabled(if: Privileges.shouldRun(.netRaw), "needs CAP_NET_RAW"))
  func receiveTimesOut() throws {
    try Privileges.check(.netRaw)
    let ring = try PacketRXRing(
      interface: "lo", filter: .rejectAll, geometry: .receive(totalSize: 1 << 20, blockSize: 1 << 16))
    defer { ring.close() }
    var seen = 0
    let count = try ring.receive(timeout: .milliseconds(50)) { _ in seen += 1 }
    #expect(count == 0)
    #expect(seen == 0)
    #expect(try ring.statistics() == RingStatistics())
  }

  @Test(
    "TX ring frames arrive over a veth, all of them, in order, byte-exact; the RX ring sees what recvmsg sees",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func transmitRingOverVeth() throws {
    try Privileges.check(.netRaw, .netAdmin)
    try VethNamespace.withFresh { namespace in
      let port = TestNet.randomPort()
      // Both captures inside the namespace, on its end of the veth, same filter.
      let (ring, plain) = try NetworkNamespace.run(named: namespace.name) {
        (
          try PacketRXRing(
            interface: namespace.namespaceInterface, filter: TestNet.tcpPortFilter(port),
            geometry: .receive(totalSize: 8 << 20, blockSize: 1 << 16)),
          try PacketSocket(
            interface: namespace.namespaceInterface, filter: TestNet.tcpPortFilter(port),
            receiveBufferSize: 4 << 20)
        )
      }
      defer {
        ring.close()
        plain.close()
      }
      let sender = try PacketTXRing(interface: namespace.hostInterface, maximumFrameLength: 64)
      defer { sender.close() }
      #expect(sender.maximumFrameLength >= 64)

      let count = 2000
      let frames: [[UInt8]] = (0..<count).map { index in
        TestPackets.ethernet(
          destination: VethNamespace.namespaceMAC, source: VethNamespace.hostMAC,
          payload: TestPackets.syn(
            source: VethNamespace.hostAddress, destination: VethNamespace.namespaceAddress,
            sourcePort: port, destinationPort: 9, sequence: 0x1000_0000 &+ UInt32(index) &* 7919,
            identification: UInt16(truncatingIfNeeded: index)))
      }
      var ringFrames: [CapturedFrame] = []
      var plainFrames: [CapturedFrame] = []
      func drain(settle: Duration) throws {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: settle)
        while clock.now < end {
          _ = try ring.receive(timeout: .milliseconds(20)) { ringFrames.append($0.captured()) }
          while let frame = try plain.receive(timeout: .zero) { plainFrames.append(frame) }
        }
      }
      var flushed = 0
      for (index, frame) in frames.enumerated() {
        if !sender.append(frame) {
          let result = try sender.flush()
          flushed += result.sent
          #expect(result.discarded == 0)
          #expect(sender.append(frame), "room again after a flush")
        }
        if index % 250 == 249 {
          flushed += try sender.flush().sent
          try drain(settle: .milliseconds(30))
        }
      }
      flushed += try sender.flush().sent
      #expect(flushed == count)
      #expect(sender.sentTotal == count)
      try drain(settle: .milliseconds(400))

      let arrived = ringFrames.filter { $0.packetType == .host }
      #expect(arrived.count == count)
      #expect(arrived.map(\.bytes) == frames, "every frame, in order, byte-exact")
      // The namespace's kernel answers each SYN to its closed port with a RST (outgoing copies).
      #expect(ringFrames.count > count)
      #expect(ringFrames.map(\.bytes) == plainFrames.map(\.bytes), "the ring saw what recvmsg saw")
      #expect(ringFrames.map(\.packetType) == plainFrames.map(\.packetType))
      #expect(ringFrames.map(\.originalLength) == plainFrames.map(\.originalLength))
      let ringStatistics = try ring.statistics()
      #expect(ringStatistics.drops == 0)
      #expect(ringStatistics.packets == UInt64(ringFrames.count))
      #expect(try plain.statistics().drops == 0)
    }
  }

  @Test(
    "The RX ring delivers a limited number of frames and keeps the rest for the next call",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func receiveLimitKeepsTheRest() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = TestNet.randomPort()
    let closedPort = try KernelListener().port
    let ring = try PacketRXRing(
      interface: "lo", filter: TestNet.tcpPortFilter(sourcePort),
      geometry: .receive(totalSize: 1 << 20, blockSize: 1 << 16), blockTimeout: .milliseconds(5))
    defer { ring.close() }
    let sender = try RawIPv4Socket()
    defer { sender.close() }
    let packets = (0..<40).map { index in
      TestPackets.syn(sourcePort: sourcePort, destinationPort: closedPort, sequence: UInt32(index) * 1000)
    }
    #expect(try sender.send(batch: packets, to: 0x7F00_0001) == packets.count)
    var sequences: [UInt32] = []
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: .seconds(3))
    var calls = 0
    while sequences.count < packets.count, clock.now < end {
      let before = sequences.count
      let delivered = try ring.receive(timeout: .milliseconds(100), limit: 7) { frame in
        if let seen = SeenSegment(frame: Array(frame.bytes)), seen.isPlainSYN { sequences.append(seen.sequence) }
      }
      #expect(delivered <= 7)
      if delivered > 0 { calls += 1 }
      _ = before
    }
    #expect(sequences == (0..<40).map { UInt32($0) * 1000 }, "in order, none lost or repeated")
    #expect(calls >= 6, "at most 7 frames a call (SYNs and RSTs interleave)")
  }
}

@Suite("Packet rings: error paths (mocked syscalls, real sockets)", .serialized)
struct RingErrorPathTests {
  @Test(
    "Setup order is version, options, ring, mmap; a refused mmap closes the socket and names the step",
    .enabled(if: MockingDriver.isAvailable && Privileges.shouldRun(.netRaw), "needs a debug build and CAP_NET_RAW"))
  func refusedMmap() throws {
    try Privileges.check(.netRaw)
    let geometry = PacketRingGeometry.receive(totalSize: 1 << 20, blockSize: 1 << 16)
    MockingDriver.withMocking { driver in
      driver.force(.noMemory, on: "mmap")
      #expect(throws: SocketError.system(operation: "mmap(PACKET_RX_RING, \(geometry.totalSize) bytes)", .noMemory)) {
        try PacketRXRing(interface: "lo", geometry: geometry)
      }
      let names = driver.trace.map(\.name)
      #expect(names.last == "close", "the socket is closed")
      #expect(!names.contains("bind"), "never bound")
      let options = driver.trace.filter { $0.name == "setsockopt" }.compactMap { $0.arguments.count > 2 ? $0.arguments[2] : nil }
      let version = options.firstIndex(of: Int(PACKET_VERSION))
      let ring = options.firstIndex(of: Int(PACKET_RX_RING))
      #expect(version != nil && ring != nil && (version ?? 0) < (ring ?? 0), "PACKET_VERSION before PACKET_RX_RING")
    }
  }

  @Test(
    "A refused TX flush keeps the frames queued; ENOBUFS is waited out; each frame leaves once",
    .enabled(if: MockingDriver.isAvailable && Privileges.shouldRun(.netRaw, .netAdmin), "needs a debug build and root"))
  func transmitFlushErrors() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let port = TestNet.randomPort()
    let capture = try PacketRXRing(
      interface: "lo", filter: TestNet.tcpPortFilter(port), geometry: .receive(totalSize: 1 << 20, blockSize: 1 << 16))
    defer { capture.close() }
    let ring = try PacketTXRing(interface: "lo", maximumFrameLength: 64)
    defer { ring.close() }
    let frames = (0..<6).map { index in
      TestPackets.ethernet(
        destination: [0, 0, 0, 0, 0, 0], source: [0, 0, 0, 0, 0, 0],
        payload: TestPackets.syn(sourcePort: port, destinationPort: 9, sequence: UInt32(index)))
    }
    for frame in frames[0..<3] { #expect(ring.append(frame)) }
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "sendto")
      #expect(throws: SocketError.blockedByFirewall) { try ring.flush() }
    }
    #expect(ring.queuedCount == 3, "nothing left the ring")
    #expect(ring.sentTotal == 0)
    for frame in frames[3...] { #expect(ring.append(frame)) }
    try MockingDriver.withMocking { driver in
      driver.force(.noBufferSpace, on: "sendto", times: 2)
      let result = try ring.flush()
      #expect(result == PacketTXRing.FlushResult(queued: 6, sent: 6, discarded: 0, bytes: frames.reduce(0) { $0 + $1.count }))
      #expect(driver.trace.filter { $0.name == "sendto" }.count == 3)
    }
    #expect(ring.queuedCount == 0)
    #expect(ring.sentTotal == 6)
    var seen: [[UInt8]] = []
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: .seconds(2))
    while seen.count < 6, clock.now < end {
      try capture.receive(timeout: .milliseconds(100)) { seen.append(Array($0.bytes)) }
    }
    try capture.receive(timeout: .milliseconds(100)) { seen.append(Array($0.bytes)) }
    #expect(seen == frames, "each frame once, in order")
  }
}
