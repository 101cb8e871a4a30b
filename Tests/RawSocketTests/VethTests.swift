// Layer-2 sends over a veth pair into a network namespace the test creates (and always removes).
import Foundation
import Glibc
import Testing
import TestSupport
import RawSocket

/// A namespace with one end of a veth pair in it (10.99.0.2/24, MAC 02:00:00:00:00:02); the
/// other end stays in the root namespace, up, without an address (MAC 02:00:00:00:00:01).
/// Names carry the pid and a counter, so parallel runs never collide.
final class VethNamespace {
  private let fixture: VethNamespaceFixture
  var name: String { fixture.name }
  var hostInterface: String { fixture.hostInterface }
  var namespaceInterface: String { fixture.namespaceInterface }
  static let hostMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
  static let namespaceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
  static let hostAddress: UInt32 = 0x0A63_0001  // 10.99.0.1 (owned by nobody: a static neighbour)
  static let namespaceAddress: UInt32 = 0x0A63_0002  // 10.99.0.2

  init() throws {
    fixture = try VethNamespaceFixture(
      prefix: "tcrs", hostPrefix: "trh", namespacePrefix: "trn", hostMAC: "02:00:00:00:00:01",
      namespaceMAC: "02:00:00:00:00:02"
    ) { veth in
      [
        ["ip", "link", "set", veth.hostInterface, "up"],
        ["ip", "-n", veth.name, "link", "set", "lo", "up"],
        ["ip", "-n", veth.name, "link", "set", veth.namespaceInterface, "up"],
        ["ip", "-n", veth.name, "addr", "add", "10.99.0.2/24", "dev", veth.namespaceInterface],
        ["ip", "-n", veth.name, "neigh", "replace", "10.99.0.1", "lladdr", "02:00:00:00:00:01", "dev",
         veth.namespaceInterface, "nud", "permanent"],
      ]
    }
  }

  /// Removes the namespace (which destroys both veth ends); idempotent.
  func destroy() { fixture.destroy() }

  /// A kernel counter of the namespace (`nstat -asz NAME`), or nil.
  func counter(_ counter: String) throws -> Int? {
    let (_, output) = try TestNet.run(["ip", "netns", "exec", name, "nstat", "-asz", counter])
    for line in output.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      if fields.count >= 2, fields[0] == counter { return Int(fields[1]) }
    }
    return nil
  }

  /// Polls `counter` until it differs from `old` (bounded by `limit`).
  func waitForChange(_ counter: String, from old: Int, limit: Duration = .seconds(2)) throws -> Int? {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: limit)
    var value = try self.counter(counter)
    while value == old, clock.now < end {
      usleep(20_000)
      value = try self.counter(counter)
    }
    return value
  }

  /// Whether no namespace or interface of ours is left.
  var isGone: Bool { fixture.isGone }

  /// Runs `body` with a new namespace, then removes it and expects nothing of it left.
  static func withFresh<R>(_ body: (VethNamespace) throws -> R) throws -> R {
    let namespace = try VethNamespace()
    defer {
      namespace.destroy()
      #expect(namespace.isGone)
    }
    return try body(namespace)
  }
}

@Suite(
  "Layer-2 frames over a veth into a namespace", .serialized,
  .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
struct VethTests {
  @Test("A frame with a bad IPv4 header checksum arrives unmodified on the other end")
  func badIPv4ChecksumArrivesUnmodified() throws {
    try Privileges.check(.netRaw, .netAdmin)
    try VethNamespace.withFresh { namespace in
      let port = TestNet.randomPort()
      let capture = try NetworkNamespace.run(named: namespace.name) {
        try PacketSocket(interface: namespace.namespaceInterface, filter: TestNet.tcpPortFilter(port))
      }
      defer { capture.close() }
      let sender = try PacketSocket(interface: namespace.hostInterface, filter: .rejectAll)
      defer { sender.close() }

      var packet = TestPackets.syn(
        source: VethNamespace.hostAddress, destination: VethNamespace.namespaceAddress,
        sourcePort: port, destinationPort: 7, sequence: 0xC0FFEE, identification: 0xBAD1, badIPChecksum: true)
      packet += Array(repeating: 0xAB, count: 8)  // and a total length shorter than the frame
      let frame = TestPackets.ethernet(
        destination: VethNamespace.namespaceMAC, source: VethNamespace.hostMAC, payload: packet)
      #expect(TestPackets.checksum(Array(packet[0..<20])) != 0, "the header checksum really is bad")
      try sender.send(frame: frame)

      let frames = try TestNet.collect(capture) { !$0.isEmpty }
      #expect(frames.count == 1)
      guard let received = frames.first else { return }
      #expect(received.bytes == frame, "byte-exact, bad checksum and trailing bytes included")
      #expect(received.packetType == .host)
      #expect(received.hardwareType == 1, "ARPHRD_ETHER")
      #expect(!received.checksumNotReady)
    }
  }

  @Test("A SYN with a bad TCP checksum is dropped by the namespace's kernel; a good one is answered")
  func badTCPChecksumDropped() throws {
    try Privileges.check(.netRaw, .netAdmin)
    try VethNamespace.withFresh { namespace in
      let listener = try NetworkNamespace.run(named: namespace.name) {
        try KernelListener(address: VethNamespace.namespaceAddress)
      }
      let sourcePort = TestNet.randomPort()
      let link = try PacketSocket(interface: namespace.hostInterface, filter: TestNet.tcpPortFilter(sourcePort))
      defer { link.close() }
      func frame(sequence: UInt32, badChecksum: Bool) -> [UInt8] {
        TestPackets.ethernet(
          destination: VethNamespace.namespaceMAC, source: VethNamespace.hostMAC,
          payload: TestPackets.syn(
            source: VethNamespace.hostAddress, destination: VethNamespace.namespaceAddress,
            sourcePort: sourcePort, destinationPort: listener.port, sequence: sequence,
            badTCPChecksum: badChecksum))
      }

      let before = try #require(try namespace.counter("TcpInCsumErrors"))
      let bad = frame(sequence: 1000, badChecksum: true)
      try link.send(frame: bad)
      let afterBad = try namespace.waitForChange("TcpInCsumErrors", from: before)
      #expect(afterBad == before + 1)

      try link.send(frame: frame(sequence: 2000, badChecksum: false))
      let frames = try TestNet.collect(link) { frames in
        frames.contains { SeenSegment(frame: $0.bytes)?.isSYNACK == true }
      }
      let segments = frames.compactMap { SeenSegment(frame: $0.bytes) }
      let synAcks = segments.filter(\.isSYNACK)
      #expect(synAcks.count == 1, "only the good SYN is answered: \(segments)")
      // A packet socket never captures the frames it sent itself (other sockets see them as OUTGOING).
      #expect(segments.filter(\.isPlainSYN).isEmpty)
      #expect(try namespace.counter("TcpInCsumErrors") == afterBad, "the good SYN raised no checksum error")
    }
  }
}
