// IPv6 through the real kernel: a crafted SYN over raw AF_INET6 to a listener on ::1, captured
// with AF_PACKET on ETH_P_IPV6; route, neighbour and inet_diag lookups for AF_INET6; a layer-2
// IPv6 SYN over a veth into a namespace the test creates (addresses added with nodad: kernel
// fact 15).
import Foundation
import Glibc
import Testing
import TestSupport
@testable import RawSocket

/// Hand-built IPv6 + TCP bytes (independent of PacketKit): RFC 8200 §3 header, RFC 9293 header,
/// checksum over the RFC 8200 §8.1 pseudo-header.
enum IPv6Bytes {
  static let loopback: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]

  static func address(_ text: String) -> [UInt8] {
    var storage = in6_addr()
    guard inet_pton(AF_INET6, text, &storage) == 1 else { return [] }
    return withUnsafeBytes(of: storage) { Array($0) }
  }

  static func tcp(
    source: [UInt8], destination: [UInt8], sourcePort: UInt16, destinationPort: UInt16, sequence: UInt32,
    flags: UInt8 = 0x02, hopLimit: UInt8 = 64, flowLabel: UInt32 = 0, payloadLength: UInt16? = nil
  ) -> [UInt8] {
    var segment = HandBuilt.be16(sourcePort) + HandBuilt.be16(destinationPort) + HandBuilt.be32(sequence)
      + HandBuilt.be32(0) + [0x50, flags] + HandBuilt.be16(0xFFFF) + [0, 0, 0, 0]
    let pseudo = source + destination + HandBuilt.be32(UInt32(segment.count)) + [0, 0, 0, 6]
    let checksum = HandBuilt.checksum(pseudo + segment)
    segment[16] = UInt8(checksum >> 8)
    segment[17] = UInt8(checksum & 0xFF)
    let word = 0x6000_0000 | flowLabel
    return HandBuilt.be32(word) + HandBuilt.be16(payloadLength ?? UInt16(segment.count)) + [6, hopLimit]
      + source + destination + segment
  }

  /// A TCP segment seen in an Ethernet frame carrying IPv6 (no extension headers).
  struct Seen: CustomStringConvertible {
    var ipv6: [UInt8]
    var sourcePort: UInt16
    var destinationPort: UInt16
    var sequence: UInt32
    var acknowledgment: UInt32
    var flags: UInt8
    init?(frame: [UInt8]) {
      guard frame.count >= 14 + 40 + 20, frame[12] == 0x86, frame[13] == 0xDD, frame[14 + 6] == 6 else { return nil }
      ipv6 = Array(frame[14...])
      func be16(_ at: Int) -> UInt16 { UInt16(frame[at]) << 8 | UInt16(frame[at + 1]) }
      func be32(_ at: Int) -> UInt32 { UInt32(be16(at)) << 16 | UInt32(be16(at + 2)) }
      sourcePort = be16(54)
      destinationPort = be16(56)
      sequence = be32(58)
      acknowledgment = be32(62)
      flags = frame[67]
    }
    var isSYNACK: Bool { flags & 0x12 == 0x12 }
    var description: String { "\(sourcePort) > \(destinationPort) flags 0x\(String(flags, radix: 16))" }
  }
}

/// A kernel TCP listener on an IPv6 address (port chosen by the kernel).
final class IPv6Listener {
  let descriptor: CInt
  let port: UInt16

  init(address: [UInt8] = IPv6Bytes.loopback) throws {
    let fd = socket(AF_INET6, CInt(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket(AF_INET6): errno \(errno)") }
    var address6 = sockaddr_in6()
    address6.sin6_family = sa_family_t(AF_INET6)
    withUnsafeMutableBytes(of: &address6.sin6_addr) { raw in for i in 0..<16 { raw[i] = address[i] } }
    let bound = withUnsafePointer(to: &address6) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
    guard bound == 0, listen(fd, 16) == 0 else {
      close(fd)
      throw TestSupportError("bind/listen on IPv6: errno \(errno)")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    _ = withUnsafeMutablePointer(to: &address6) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    descriptor = fd
    port = UInt16(bigEndian: address6.sin6_port)
  }

  deinit { close(descriptor) }

  /// A connected client socket (blocking connect on loopback), or -1.
  func connectClient(to address: [UInt8] = IPv6Bytes.loopback) -> (descriptor: CInt, port: UInt16) {
    let fd = socket(AF_INET6, CInt(SOCK_STREAM.rawValue), 0)
    var peer = sockaddr_in6()
    peer.sin6_family = sa_family_t(AF_INET6)
    peer.sin6_port = port.bigEndian
    withUnsafeMutableBytes(of: &peer.sin6_addr) { raw in for i in 0..<16 { raw[i] = address[i] } }
    let result = withUnsafePointer(to: &peer) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
    guard result == 0 else {
      close(fd)
      return (-1, 0)
    }
    var local = sockaddr_in6()
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    _ = withUnsafeMutablePointer(to: &local) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, UInt16(bigEndian: local.sin6_port))
  }
}

@Suite("IPv6 on ::1: raw AF_INET6 sends, ETH_P_IPV6 capture, route and inet_diag")
struct IPv6LoopbackTests {
  /// Opens an `ETH_P_IPV6` capture on lo and a `RawIPv6Socket`, sends `packet` to ::1 and
  /// returns what the capture saw until `enough` (then `settle` more).
  static func sendToLoopback(
    _ packet: [UInt8], settle: Duration = .milliseconds(300), until enough: ([CapturedFrame]) -> Bool
  ) throws -> [CapturedFrame] {
    let capture = try PacketSocket(interface: "lo", protocol: PacketSocket.ipv6Protocol)
    defer { capture.close() }
    let sender = try RawIPv6Socket()
    defer { sender.close() }
    try sender.send(packet, to: IPv6Bytes.loopback)
    return try TestNet.collect(capture, settle: settle, enough: enough)
  }

  @Test("ipv6Text prints RFC 5952 text", arguments: [
    ("::1", "::1"), ("::", "::"), ("2001:db8::1", "2001:db8::1"), ("1::", "1::"), ("fe80::1:2:3:4", "fe80::1:2:3:4"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"), ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
  ])
  func ipv6TextMatchesInetNtop(input: String, expected: String) {
    #expect(ipv6Text(IPv6Bytes.address(input)) == expected)
  }

  @Test("A bad destination length is refused before any syscall")
  func destinationMustBe16Octets() {
    #expect(ipv6SocketAddress([1, 2, 3]) == nil)
    #expect(ipv6SocketAddress(IPv6Bytes.loopback, scopeID: 3)?.sin6_scope_id == 3)
  }

  @Test(
    "A crafted IPv6 SYN to a listener on ::1 goes out byte for byte and draws a SYN+ACK",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func craftedSYNOverRawIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let listener = try IPv6Listener()
    let sourcePort = TestNet.randomPort()
    // Flow label and hop limit of our choosing: IPV6_HDRINCL keeps them.
    let syn = IPv6Bytes.tcp(
      source: IPv6Bytes.loopback, destination: IPv6Bytes.loopback, sourcePort: sourcePort,
      destinationPort: listener.port, sequence: 7_000_000, hopLimit: 9, flowLabel: 0xABCDE)
    let frames = try Self.sendToLoopback(syn) { frames in
      frames.contains { IPv6Bytes.Seen(frame: $0.bytes).map { $0.isSYNACK && $0.destinationPort == sourcePort } ?? false }
    }
    let seen = frames.compactMap { IPv6Bytes.Seen(frame: $0.bytes) }.filter {
      $0.sourcePort == sourcePort || $0.destinationPort == sourcePort
    }
    let ours = seen.filter { $0.sourcePort == sourcePort && $0.flags == 0x02 }
    #expect(ours.count == 1, "\(seen)")
    #expect(ours.first?.ipv6 == syn, "the kernel rewrites nothing in a header-included IPv6 packet")
    let synAck = seen.first { $0.isSYNACK }
    #expect(synAck?.sourcePort == listener.port)
    #expect(synAck?.acknowledgment == 7_000_001)
    #expect(frames.allSatisfy { $0.linkProtocol == PacketSocket.ipv6Protocol })
  }

  @Test(
    "A lying payload length is sent as built at layer 3 (nothing rewritten)",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func payloadLengthIsNotRewritten() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = TestNet.randomPort()
    let packet = IPv6Bytes.tcp(
      source: IPv6Bytes.loopback, destination: IPv6Bytes.loopback, sourcePort: sourcePort, destinationPort: 9,
      sequence: 1, payloadLength: 8)
    let frames = try Self.sendToLoopback(packet, settle: .milliseconds(100)) { frames in
      frames.contains { $0.bytes.count >= 14 + 60 && Array($0.bytes[14...]) == packet }
    }
    #expect(frames.contains { Array($0.bytes.dropFirst(14)) == packet }, "payload length 8 of 20 kept")
  }

  @Test(
    "An unspecified source address (::) is sent as built, not filled in",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func unspecifiedSourceIsNotFilled() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let sourcePort = TestNet.randomPort()
    let packet = IPv6Bytes.tcp(
      source: [UInt8](repeating: 0, count: 16), destination: IPv6Bytes.loopback, sourcePort: sourcePort,
      destinationPort: 9, sequence: 1)
    let frames = try Self.sendToLoopback(packet, settle: .milliseconds(100)) { frames in
      frames.contains { IPv6Bytes.Seen(frame: $0.bytes)?.sourcePort == sourcePort }
    }
    let seen = frames.compactMap { IPv6Bytes.Seen(frame: $0.bytes) }.filter { $0.sourcePort == sourcePort }
    #expect(seen.count == 1)
    #expect(seen.first?.ipv6 == packet, "source :: kept")
  }

  @Test("The route to ::1 is local, on lo", .enabled(if: Privileges.shouldRun(.netAdmin), "needs root"))
  func routeToLoopback() throws {
    let route = try RouteLookup.route(toIPv6: IPv6Bytes.loopback)
    #expect(route.interfaceName == "lo")
    #expect(route.isLocal)
    #expect(route.nextHopMAC == [0, 0, 0, 0, 0, 0])
    #expect(route.gateway == nil)
    #expect(route.mtu >= 1280)
    #expect(throws: NetlinkError.self) { try RouteLookup.route(toIPv6: [1, 2, 3, 4]) }
  }

  @Test("inet_diag finds an IPv6 listener and its ESTABLISHED connection on ::1")
  func inetDiagOverIPv6() throws {
    let listener = try IPv6Listener()
    let client = listener.connectClient()
    #expect(client.descriptor >= 0)
    defer { if client.descriptor >= 0 { close(client.descriptor) } }
    let diag = try InetDiag()
    let state = try diag.state(
      localIPv6: IPv6Bytes.loopback, localPort: client.port, remoteIPv6: IPv6Bytes.loopback, remotePort: listener.port)
    #expect(state == .established)
    let all = try diag.allIPv6Sockets()
    let listening = all.first { $0.localPort == listener.port && $0.state == .listen }
    #expect(listening?.isIPv6 == true)
    #expect(listening?.localAddress6 == IPv6Bytes.loopback)
    #expect(listening?.description == "LISTEN [::1]:\(listener.port) [::]:0")
    // No such 4-tuple: nil, not the listener.
    #expect(
      try diag.state(
        localIPv6: IPv6Bytes.loopback, localPort: listener.port, remoteIPv6: IPv6Bytes.loopback, remotePort: 1) == nil)
    // The IPv4 view of the same table is unchanged: no IPv6 socket in it.
    #expect(try diag.allSockets().allSatisfy { !$0.isIPv6 })
  }
}

@Suite(
  "IPv6 over a veth into a namespace", .serialized,
  .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
struct IPv6VethTests {
  @Test("A layer-2 IPv6 SYN from an address nobody owns gets SYN_RECV in the namespace, seen by inet_diag and route lookup")
  func layer2SYNIntoNamespace() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // fd99::1 is owned by nobody (the host end has no address): a static neighbour entry in the
    // namespace sends its replies to the host end, where they are captured and dropped.
    let fixture = try VethNamespaceFixture(
      prefix: "tc6", hostPrefix: "t6h", namespacePrefix: "t6n", hostMAC: "02:00:00:00:06:01",
      namespaceMAC: "02:00:00:00:06:02"
    ) { veth in
      [
        ["sysctl", "-qw", "net.ipv6.conf.\(veth.hostInterface).disable_ipv6=1"],
        ["ip", "link", "set", veth.hostInterface, "up"],
        ["ip", "-n", veth.name, "link", "set", "lo", "up"],
        ["ip", "-n", veth.name, "link", "set", veth.namespaceInterface, "up"],
        ["ip", "-n", veth.name, "addr", "add", "fd99::2/64", "dev", veth.namespaceInterface, "nodad"],
        ["ip", "-n", veth.name, "neigh", "replace", "fd99::1", "lladdr", "02:00:00:00:06:01", "dev",
         veth.namespaceInterface, "nud", "permanent"],
      ]
    }
    defer {
      fixture.destroy()
      #expect(fixture.isGone)
    }
    let ours = IPv6Bytes.address("fd99::1")
    let theirs = IPv6Bytes.address("fd99::2")
    // A fresh address takes packets only once addrconf's work queue has put in its local route
    // (kernel fact 25), later still on a loaded machine: wait for it, bounded.
    var local = false
    for _ in 0..<500 where !local {
      local = (try? NetworkNamespace.run(named: fixture.name) { try RouteLookup.route(toIPv6: theirs).isLocal }) == true
      if !local { usleep(10_000) }
    }
    #expect(local, "fd99::2 became local within 5 s")
    let listener = try NetworkNamespace.run(named: fixture.name) { try IPv6Listener(address: theirs) }
    let route = try NetworkNamespace.run(named: fixture.name) { try RouteLookup.route(toIPv6: ours) }
    #expect(route.interfaceName == fixture.namespaceInterface)
    #expect(route.nextHopMAC == [0x02, 0, 0, 0, 0x06, 0x01])
    #expect(route.sourceAddress == theirs)
    #expect(!route.isLocal)

    let capture = try PacketSocket(interface: fixture.hostInterface, protocol: PacketSocket.ipv6Protocol)
    defer { capture.close() }
    let sourcePort = TestNet.randomPort()
    let syn = IPv6Bytes.tcp(
      source: ours, destination: theirs, sourcePort: sourcePort, destinationPort: listener.port, sequence: 4242)
    let frame: [UInt8] = [0x02, 0, 0, 0, 0x06, 0x02, 0x02, 0, 0, 0, 0x06, 0x01, 0x86, 0xDD] + syn
    try capture.send(frame: frame)
    let frames = try TestNet.collect(capture, settle: .milliseconds(50)) { frames in
      frames.contains { IPv6Bytes.Seen(frame: $0.bytes)?.isSYNACK == true }
    }
    let synAck = frames.compactMap { IPv6Bytes.Seen(frame: $0.bytes) }.first { $0.isSYNACK }
    #expect(synAck?.destinationPort == sourcePort)
    #expect(synAck?.acknowledgment == 4243)
    #expect(synAck.map { Array($0.ipv6[8..<24]) } == theirs)
    let state = try NetworkNamespace.run(named: fixture.name) {
      try InetDiag().state(localIPv6: theirs, localPort: listener.port, remoteIPv6: ours, remotePort: sourcePort)
    }
    #expect(state == .synReceived || state == .newSynReceived, "\(String(describing: state))")
  }
}

@Suite(
  "RawIPv6Socket through the mocking seam",
  .enabled(if: MockingDriver.isAvailable && Privileges.shouldRun(.netRaw), "debug builds, CAP_NET_RAW"))
struct IPv6RawSocketMockingTests {
  @Test("socket(AF_INET6, SOCK_RAW, IPPROTO_RAW), IPV6_HDRINCL, sendto with a sockaddr_in6; EINTR retried")
  func callsAndArguments() throws {
    try Privileges.check(.netRaw)
    try MockingDriver.withMocking { driver in
      let socket = try RawIPv6Socket()
      defer { socket.close() }
      driver.force(.interrupted, on: "sendto")
      let packet = IPv6Bytes.tcp(
        source: IPv6Bytes.loopback, destination: IPv6Bytes.loopback, sourcePort: 1, destinationPort: 9, sequence: 1)
      try socket.send(packet, to: IPv6Bytes.loopback)
      let fd = Int(socket.descriptor.rawValue)
      #expect(driver.trace.contains(MockTraceEntry("socket", [Int(AF_INET6), Int(SOCK_RAW.rawValue | SOCK_CLOEXEC.rawValue), Int(IPPROTO_RAW)])))
      #expect(driver.trace.contains(MockTraceEntry("setsockopt", [fd, Int(IPPROTO_IPV6), 36, 4])))
      let sends = driver.trace.filter { $0.name == "sendto" }
      #expect(sends.count == 2, "EINTR once, then sent")
      #expect(sends.last?.arguments == [fd, packet.count, Int(MSG_NOSIGNAL), MemoryLayout<sockaddr_in6>.size])
    }
  }

  @Test("EPERM from sendto is the firewall; EPERM from socket is the missing capability")
  func errorMapping() throws {
    try Privileges.check(.netRaw)
    try MockingDriver.withMocking { driver in
      let socket = try RawIPv6Socket()
      defer { socket.close() }
      driver.force(.notPermitted, on: "sendto")
      #expect(throws: SocketError.blockedByFirewall) { try socket.send([0x60], to: IPv6Bytes.loopback) }
      #expect(throws: SocketError.system(operation: "sendto", .invalidArgument)) {
        try socket.send([0x60], to: [1, 2, 3])
      }
      driver.force(.notPermitted, on: "socket")
      #expect(throws: SocketError.self) { try RawIPv6Socket() }
    }
  }
}
