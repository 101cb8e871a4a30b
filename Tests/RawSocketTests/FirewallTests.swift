// A real netfilter drop: EPERM from the kernel becomes `.blockedByFirewall`; a socket made under
// an exempt group passes a `meta skgid` accept rule (kernel fact 2), and any socket passes a
// `meta skuid` rule naming the user who opened it (what the RST guard uses, fact 16). The tables
// have unique names and are deleted whatever happens.
import Glibc
import Testing
import TestSupport
import RawSocket

@Suite(
  "Sends dropped by netfilter",
  .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("nft"), "needs root and nft"))
struct FirewallTests {
  @Test(
    "EPERM from a netfilter drop is reported as blocked by the firewall; the exempt group passes",
    .enabled(if: Privileges.shouldRunAsHostRoot, "\(Privileges.hostRootReason)"))
  func blockedByFirewallAndExemptGroup() throws {
    try Privileges.check(.netRaw, .netAdmin)
    try Privileges.checkHostRoot()
    let destination = DropTable.randomLoopbackDestination()
    let table = DropTable(prefix: "tcrsio")
    defer { table.delete() }
    try table.create(destination: destination, accepting: ["meta", "skgid", "4242"])
    let port = TestNet.randomPort()
    let capture = try PacketSocket(interface: "lo", filter: TestNet.tcpPortFilter(port))
    defer { capture.close() }
    func syn(_ sequence: UInt32) -> [UInt8] {
      TestPackets.syn(destination: destination, sourcePort: port, destinationPort: 9, sequence: sequence)
    }

    let plain = try RawIPv4Socket()
    defer { plain.close() }
    #expect(throws: SocketError.blockedByFirewall) { try plain.send(syn(1), to: destination) }
    let batch = SendBatch(capacity: 4)
    batch.append(syn(2), to: destination)
    batch.append(syn(3), to: destination)
    #expect(throws: SocketError.blockedByFirewall) { try plain.send(batch: batch) }
    #expect(batch.sentCount == 0)

    let exempt = try RawIPv4Socket(exemptGroup: 4242)
    defer { exempt.close() }
    try exempt.send(syn(4), to: destination)

    let frames = try TestNet.collect(capture) { !$0.isEmpty }
    let sequences = frames.compactMap { SeenSegment(frame: $0.bytes) }.filter(\.isPlainSYN).map(\.sequence)
    #expect(sequences == [4], "only the exempt socket's SYN left the host")
  }

  /// `meta skuid` matches the uid that opened the socket: a rule accepting our uid lets a plain
  /// socket's packet out; the same rule naming another uid does not (the drop rule then wins).
  @Test("A plain socket passes a meta skuid rule naming its user, and only that user")
  func socketOwnerRule() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let uid = geteuid()
    var sequences: [UInt32] = []
    for (index, ruleUser) in [uid, uid &+ 1].enumerated() {
      let destination = DropTable.randomLoopbackDestination()
      let table = DropTable(prefix: "tcrsuid")
      defer { table.delete() }
      try table.create(destination: destination, accepting: ["meta", "skuid", "\(ruleUser)"])
      let (port, capture, socket) = try TestNet.loopbackCapture()
      defer { socket.close(); capture.close() }
      let sequence = UInt32(100 + index)
      let packet = TestPackets.syn(destination: destination, sourcePort: port, destinationPort: 9, sequence: sequence)
      if ruleUser == uid {
        try socket.send(packet, to: destination)
        let frames = try TestNet.collect(capture) { !$0.isEmpty }
        sequences += frames.compactMap { SeenSegment(frame: $0.bytes) }.filter(\.isPlainSYN).map(\.sequence)
      } else {
        #expect(throws: SocketError.blockedByFirewall) { try socket.send(packet, to: destination) }
      }
    }
    #expect(sequences == [100], "the SYN of the socket's own user left the host")
  }
}

/// An nft table (unique name, family ip) whose output chain accepts what goes to one address and
/// matches a rule, and drops the rest to that address. `delete()` removes it and checks it is gone.
private struct DropTable {
  let name: String

  init(prefix: String) { name = "\(prefix)_\(getpid())_\(UInt16.random(in: 0...UInt16.max))" }

  /// A random 127.x.y.z (host byte order), away from the usual 127.0.0.1.
  static func randomLoopbackDestination() -> UInt32 {
    0x7F00_0000 | UInt32.random(in: 100...250) << 16 | UInt32.random(in: 1...250)
  }

  /// Adds the table, its output chain, `ip daddr <destination> <accepting> counter accept`, then
  /// `ip daddr <destination> counter drop`.
  func create(destination: UInt32, accepting match: [String]) throws {
    let target = "127.\(destination >> 16 & 0xFF).\(destination >> 8 & 0xFF).\(destination & 0xFF)"
    for command in [
      ["nft", "add", "table", "ip", name],
      ["nft", "add", "chain", "ip", name, "out", "{ type filter hook output priority 0 ; policy accept ; }"],
      ["nft", "add", "rule", "ip", name, "out", "ip", "daddr", target] + match + ["counter", "accept"],
      ["nft", "add", "rule", "ip", name, "out", "ip", "daddr", target, "counter", "drop"],
    ] {
      let (status, output) = try TestNet.run(command)
      try #require(status == 0, "\(command.joined(separator: " ")): \(output)")
    }
  }

  func delete() {
    _ = try? TestNet.run(["nft", "delete", "table", "ip", name])
    let remaining = (try? TestNet.run(["nft", "list", "tables"]).output) ?? ""
    #expect(!remaining.contains(name))
  }
}
