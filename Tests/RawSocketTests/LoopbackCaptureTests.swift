// Real kernel, real loopback: a crafted SYN to a kernel listener, captured with AF_PACKET.
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite("Capture on lo of crafted SYNs and the kernel's answers")
struct LoopbackCaptureTests {
  /// Sends one crafted SYN from `sourcePort` to the listener and collects the frames of that
  /// port pair until the SYN+ACK (and, with outgoing copies, both copies) arrived.
  func handshakeFrames(ignoreOutgoing: Bool?) throws -> (frames: [CapturedFrame], listener: UInt16, source: UInt16) {
    let listener = try KernelListener()
    let sourcePort = TestNet.randomPort()
    let capture = try PacketSocket(
      interface: "lo", ignoreOutgoing: ignoreOutgoing, filter: TestNet.tcpPortFilter(listener.port))
    defer { capture.close() }
    let sender = try RawIPv4Socket()
    defer { sender.close() }
    let syn = TestPackets.syn(
      sourcePort: sourcePort, destinationPort: listener.port, sequence: 84_347_051)
    try sender.send(syn, to: 0x7F00_0001)
    let wanted = ignoreOutgoing == false ? 2 : 1
    let frames = try TestNet.collect(capture) { frames in
      frames.compactMap { SeenSegment(frame: $0.bytes) }.filter(\.isSYNACK).count >= wanted
    }
    return (frames, listener.port, sourcePort)
  }

  @Test(
    "A crafted SYN's SYN+ACK is seen exactly once on lo (PACKET_IGNORE_OUTGOING)",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func synAckSeenOnce() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (frames, listenerPort, sourcePort) = try handshakeFrames(ignoreOutgoing: nil)
    let segments = frames.map { SeenSegment(frame: $0.bytes) }
    let synAcks = frames.indices.filter { segments[$0]?.isSYNACK == true }
    let syns = frames.indices.filter { segments[$0]?.isPlainSYN == true }
    #expect(synAcks.count == 1, "frames: \(segments)")
    #expect(syns.count == 1)
    guard let synAckIndex = synAcks.first, let synIndex = syns.first else { return }
    let synAck = frames[synAckIndex]
    #expect(segments[synAckIndex]?.sourcePort == listenerPort)
    #expect(segments[synAckIndex]?.destinationPort == sourcePort)
    #expect(synAck.packetType == .host)
    #expect(synAck.interfaceIndex == Int32(bitPattern: if_nametoindex("lo")))
    #expect(synAck.linkProtocol == 0x0800)
    #expect(synAck.hardwareType == 772, "ARPHRD_LOOPBACK")
    #expect(synAck.originalLength == synAck.bytes.count)
    #expect(synAck.timestamp.seconds > 1_600_000_000)
    // The kernel's own segment leaves the TCP checksum to "offload" (CHECKSUM_PARTIAL).
    #expect(synAck.checksumNotReady)
    // Our raw-socket SYN carried a complete checksum.
    #expect(!frames[synIndex].checksumNotReady)
    #expect(frames[synIndex].timestamp <= synAck.timestamp)
  }

  @Test(
    "Asking for outgoing copies shows the SYN+ACK twice on lo: OUTGOING and HOST",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func outgoingCopiesWhenAsked() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (frames, _, _) = try handshakeFrames(ignoreOutgoing: false)
    let synAcks = frames.filter { SeenSegment(frame: $0.bytes)?.isSYNACK == true }
    #expect(synAcks.count == 2)
    #expect(Set(synAcks.map(\.packetType)) == [.host, .outgoing])
    #expect(Set(synAcks.map(\.bytes)).count == 1, "both copies carry the same bytes")
  }

  @Test(
    "A sendmmsg batch of SYNs is captured complete, in order, byte-exact",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func batchCapturedInOrder() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = TestNet.randomPort()
    // A port nobody listens on: bind a listener to learn a free port, then close it.
    let closedPort = try KernelListener().port
    let capture = try PacketSocket(interface: "lo", filter: TestNet.tcpPortFilter(sourcePort))
    defer { capture.close() }
    _ = try capture.statistics()  // reset the counters
    let sender = try RawIPv4Socket()
    defer { sender.close() }
    let count = 48
    let packets = (0..<count).map { index in
      TestPackets.syn(
        sourcePort: sourcePort, destinationPort: closedPort, sequence: 1_000_000 + UInt32(index) * 7919,
        identification: UInt16(0x4000 + index))
    }
    let batch = SendBatch(capacity: 32)
    // First half through a SendBatch, second half through the [[UInt8]] convenience.
    for packet in packets[..<32] { #expect(batch.append(packet, to: 0x7F00_0001)) }
    #expect(!batch.append(packets[0], to: 0x7F00_0001), "a full batch refuses more")
    #expect(try sender.send(batch: batch) == 32)
    #expect(batch.sentCount == 32)
    #expect(try sender.send(batch: Array(packets[32...]), to: 0x7F00_0001) == count - 32)

    let frames = try TestNet.collect(capture) { frames in
      frames.filter { SeenSegment(frame: $0.bytes)?.isPlainSYN == true }.count >= count
    }
    let syns = frames.filter { SeenSegment(frame: $0.bytes)?.isPlainSYN == true }
    #expect(syns.count == count)
    #expect(syns.map { Array($0.bytes.dropFirst(14)) } == packets, "in order and byte-exact")
    #expect(syns.allSatisfy { Array($0.bytes.prefix(14)) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00] })
    let statistics = try capture.statistics()
    #expect(statistics.packets >= UInt32(count))
    #expect(statistics.drops == 0)
  }

  @Test(
    "Attaching a filter later drains what was queued before it (libpcap's way)",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func attachDrainsQueuedFrames() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let capture = try PacketSocket(interface: "lo")
    defer { capture.close() }
    let sender = try RawIPv4Socket()
    defer { sender.close() }
    let otherPort = TestNet.randomPort()
    let wantedPort = otherPort &+ 1
    let closedPort = try KernelListener().port
    // Queued before the filter: must never come out afterwards.
    try sender.send(TestPackets.syn(sourcePort: otherPort, destinationPort: closedPort, sequence: 1), to: 0x7F00_0001)
    try capture.attach(TestNet.tcpPortFilter(wantedPort))
    try sender.send(TestPackets.syn(sourcePort: wantedPort, destinationPort: closedPort, sequence: 2), to: 0x7F00_0001)
    let frames = try TestNet.collect(capture) { frames in
      frames.contains { SeenSegment(frame: $0.bytes)?.isPlainSYN == true }
    }
    let segments = frames.compactMap { SeenSegment(frame: $0.bytes) }
    #expect(segments.count == frames.count, "only IPv4 TCP frames pass the filter")
    #expect(segments.allSatisfy { $0.sourcePort == wantedPort || $0.destinationPort == wantedPort }, "\(segments)")
    #expect(segments.contains { $0.isPlainSYN && $0.sequence == 2 })
  }

  @Test(
    "A whole frame sent at layer 2 on lo keeps its bad IPv4 checksum",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func layerTwoSendOnLoopbackKeepsBadChecksum() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let port = TestNet.randomPort()
    let capture = try PacketSocket(interface: "lo", filter: TestNet.tcpPortFilter(port))
    defer { capture.close() }
    let packet = TestPackets.syn(
      sourcePort: port, destinationPort: 9, sequence: 77, identification: 0xBEEF, badIPChecksum: true)
    let frame = TestPackets.ethernet(destination: [0, 0, 0, 0, 0, 0], source: [0, 0, 0, 0, 0, 0], payload: packet)
    try capture.send(frame: frame)
    let frames = try TestNet.collect(capture) { !$0.isEmpty }
    #expect(frames.count == 1)
    #expect(frames.first?.bytes == frame)
  }

  @Test(
    "What the kernel rewrites in a header-included packet: checksum and length always, ID and source when 0",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func kernelRewritesOfHeaderIncludedPackets() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (port, capture, sender) = try TestNet.loopbackCapture()
    defer { sender.close(); capture.close() }
    // Source 0.0.0.0, ID 0, a wrong checksum (0xDEAD) and a wrong total length (0x0100).
    func mangled(sequence: UInt32, dontFragment: Bool) -> [UInt8] {
      var packet = TestPackets.syn(
        source: 0x7F00_0001, sourcePort: port, destinationPort: 9, sequence: sequence, identification: 0)
      packet[2] = 0x01
      packet[3] = 0x00
      packet[6] = dontFragment ? 0x40 : 0x00
      packet[10] = 0xDE
      packet[11] = 0xAD
      for index in 12..<16 { packet[index] = 0 }
      return packet
    }
    let withDF = mangled(sequence: 1, dontFragment: true)
    let withoutDF = mangled(sequence: 2, dontFragment: false)
    try sender.send(withDF, to: 0x7F00_0001)
    try sender.send(withoutDF, to: 0x7F00_0001)
    let frames = try TestNet.collect(capture) { frames in
      frames.filter { SeenSegment(frame: $0.bytes)?.isPlainSYN == true }.count >= 2
    }
    let syns = frames.map { Array($0.bytes.dropFirst(14)) }.filter { $0.count >= 40 && $0[33] == 0x02 }
    try #require(syns.count == 2)
    for (sent, got) in zip([withDF, withoutDF], syns) {
      #expect(got.count == sent.count)
      #expect(got[2] == 0x00 && got[3] == 40, "total length rewritten to the bytes sent")
      #expect(TestPackets.checksum(Array(got[0..<20])) == 0, "header checksum recomputed")
      #expect(Array(got[12..<16]) == [127, 0, 0, 1], "source 0.0.0.0 filled from the route")
      #expect(Array(got[20...]) == Array(sent[20...]), "the TCP segment is untouched")
      #expect(got[6] == sent[6] && got[7] == sent[7] && got[8] == sent[8], "flags, offset, TTL as sent")
    }
    #expect(syns[0][4] == 0 && syns[0][5] == 0, "with DF an ID of 0 stays 0")
    #expect(syns[1][4] != 0 || syns[1][5] != 0, "without DF the kernel picks an ID")
  }

  @Test(
    "A socket created under an exempt group carries that group; the process's egid is restored",
    .enabled(if: Privileges.shouldRunAsHostRoot, "\(Privileges.hostRootReason)"))
  func exemptGroupSocket() throws {
    try Privileges.check(.netRaw, .netAdmin)
    try Privileges.checkHostRoot()  // gid 4242 exists only outside a private namespace
    let before = getegid()
    let socket = try RawIPv4Socket(exemptGroup: 4242)
    defer { socket.close() }
    #expect(getegid() == before)
    var status = stat()
    #expect(fstat(socket.descriptor.rawValue, &status) == 0)
    #expect(status.st_gid == 4242)
    let plain = try RawIPv4Socket()
    defer { plain.close() }
    #expect(fstat(plain.descriptor.rawValue, &status) == 0)
    #expect(status.st_gid == before)
  }

  @Test(
    "A receive with nothing to read returns nil after the timeout; a closed socket refuses use",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func receiveTimesOut() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let capture = try PacketSocket(interface: "lo", filter: .rejectAll)
    defer { capture.close() }
    #expect(try capture.receive(timeout: .milliseconds(50)) == nil)
    #expect(try capture.receive(timeout: .zero) == nil)
    capture.close()
    #expect(throws: SocketError.system(operation: "recvmsg", .badFileDescriptor)) {
      try capture.receive(timeout: .zero)
    }
    let sender = try RawIPv4Socket()
    sender.close()
    #expect(throws: SocketError.system(operation: "sendto", .badFileDescriptor)) {
      try sender.send([0x45], to: 0x7F00_0001)
    }
  }

  @Test(
    "An unknown interface is a clear error",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func unknownInterface() throws {
    try Privileges.check(.netRaw, .netAdmin)
    #expect(throws: SocketError.noSuchInterface("nosuch0")) { try PacketSocket(interface: "nosuch0") }
    #expect(throws: SocketError.noSuchInterface("an-interface-name-too-long")) {
      try PacketSocket(interface: "an-interface-name-too-long")
    }
  }
}
