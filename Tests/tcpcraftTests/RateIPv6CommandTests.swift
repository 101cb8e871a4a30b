// `tcpcraft send [ADDR]:PORT --count/--rate` over IPv6, run as a user runs it.
import Foundation
import Glibc
import PacketKit
import RawSocket
import Testing
import TCPScript
import TestSupport
@testable import tcpcraft

@Suite("tcpcraft send at rate over IPv6", .serialized)
struct RateIPv6CommandTests {
  @Test("Fields of the other family are refused at rate: one line, exit 2", arguments: [
    ["[::1]:9", "--count", "5", "--walk", "id"], ["[::1]:9", "--count", "5", "--id", "3"],
    ["[::1]:9", "--count", "5", "--src", "127.0.0.1"], ["127.0.0.1:9", "--count", "5", "--walk", "flow"],
    ["[::1]:9", "--count", "5", "--flow-label", "1048576"],
  ])
  func usageErrors(arguments: [String]) throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(["send", arguments[0], "--flags", "S"] + arguments.dropFirst())
    #expect(result.status == 2, "\(arguments): \(result.stderr)")
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stdout.isEmpty)
  }

  @Test("--walk flow walks the IPv6 flow label from --flow-label, modulo 2^20")
  func flowWalk() throws {
    let walk = try SendRate.parseWalk("flow:3", sourcePort: 1, sequence: 1, identification: 0, destinationPort: 2, flowLabel: 0xFFFFE)
    var burst = try Burst(
      IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback, flowLabel: 0xFFFFE)
        / TCPHeader(sourcePort: 1, destinationPort: 2, flags: .syn),
      walks: [walk])
    let second = try burst.packet(at: 1)
    #expect(try IPv6View(validating: second[...]).flowLabel == (0xFFFFE + 3) & 0xF_FFFF)
  }

  @Test(
    "send [::1]:PORT --count 400 --rate 4000 --json --walk flow: every SYN arrives on lo, in order, right checksums",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func pacedBurstToLoopback6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let sourcePort = KernelSockets.sourcePort()
    let (fd, closed) = try KernelSockets6.bound()
    close(fd)
    let filter = try CaptureFilter(parsing: "ip6 and tcp src port \(sourcePort)").compile(for: .ethernet)
    let capture = try RingCapture(interface: "lo", filter: filter, geometry: .receive(totalSize: 4 << 20, blockSize: 1 << 16))
    defer { capture.close() }
    let count = 400
    let result = try runner.run([
      "send", "[::1]:\(closed)", "--flags", "S", "--sport", "\(sourcePort)", "--seq", "1", "--count", "\(count)",
      "--rate", "4000", "--json", "--walk", "seq", "--walk", "flow", "--flow-label", "100", "--ttl", "9",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(result.lines.last.flatMap(RateCommandSupport.json))
    #expect(object["ok"] as? Bool == true)
    #expect(object["sent"] as? Int == count)
    #expect(object["errors"] as? Int == 0)
    #expect(object["layer"] as? Int == 3)
    let captured: [CapturedFrame] = try capture.collect(limit: .seconds(5)) { (frames: [CapturedFrame]) -> Bool in frames.count >= count }
    let frames: [[UInt8]] = captured.map { $0.bytes }
    #expect(frames.count == count, "exactly \(count) SYNs, no more")
    let ipv6: [IPv6View] = frames.compactMap { (frame: [UInt8]) -> IPv6View? in try? IPv6View(validating: frame[14...]) }
    let labels: [UInt32] = ipv6.map { $0.flowLabel }
    #expect(labels == (0..<count).map { 100 + UInt32($0) })
    let loopback = IPv6Address.loopback
    #expect(ipv6.allSatisfy { $0.hopLimit == 9 && $0.sourceAddress == loopback })
    var sequences: [UInt32] = []
    for frame in frames where frame.count >= 14 + 40 + 8 {
      var value: UInt32 = 0
      for byte in frame[(14 + 40 + 4)..<(14 + 40 + 8)] { value = value << 8 | UInt32(byte) }
      sequences.append(value)
    }
    #expect(sequences == (1...count).map { UInt32($0) })
    #expect(frames.allSatisfy { (frame: [UInt8]) -> Bool in dissect(ArraySlice(frame), linkType: .ethernet).problems.isEmpty })
  }

  /// TCP sequence numbers of the plain SYNs among Ethernet + IPv6 + TCP frames, in order.
  static func synSequences6(_ frames: [CapturedFrame]) -> [UInt32] {
    frames.compactMap { frame -> UInt32? in
      let bytes = frame.bytes
      guard bytes.count >= 74, bytes[12] == 0x86, bytes[13] == 0xDD, bytes[20] == 6, bytes[67] & 0x17 == 0x02 else { return nil }
      var value: UInt32 = 0
      for byte in bytes[58..<62] { value = value << 8 | UInt32(byte) }
      return value
    }
  }

  @Test(
    "send [fd00:97::2]:9 --iface over a veth (TX ring, EtherType IPv6): every frame arrives in the namespace",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func layerTwoOverVeth6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let veth = try RateCommandSupport.Veth(
      tag: "s", namespace: "tccli6", host: "r6h", inside: "r6n", hostMAC: "02:00:00:00:06:01", insideMAC: "02:00:00:00:06:02",
      address: ["fd00:97::2/64", "nodad"])
    defer { veth.remove() }
    let (namespace, host, inside) = (veth.namespace, veth.host, veth.inside)
    let sourcePort = RateCommandSupport.randomPort()
    let capture = try NetworkNamespace.run(named: namespace) {
      try RingCapture(
        interface: inside, filter: CaptureFilter(parsing: "ip6 and tcp port \(sourcePort)"),
        geometry: .receive(totalSize: 8 << 20, blockSize: 1 << 16))
    }
    defer { capture.close() }
    let count = 1200
    let result = try runner.run([
      "send", "[fd00:97::2]:9", "--flags", "S", "--sport", "\(sourcePort)", "--seq", "1000", "--count", "\(count)",
      "--iface", host, "--src", "fd00:97::1", "--dst-mac", "02:00:00:00:06:02", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(result.lines.last.flatMap(RateCommandSupport.json))
    #expect(object["sent"] as? Int == count)
    #expect(object["layer"] as? Int == 2)
    let frames = try capture.collect(limit: .seconds(5)) { Self.synSequences6($0).count >= count }
    let syns = frames.filter { $0.packetType == .host }
    #expect(Self.synSequences6(syns) == (0..<count).map { 1000 + UInt32($0) })
    #expect(syns.allSatisfy { Array($0.bytes[0..<14]) == [2, 0, 0, 0, 6, 2, 2, 0, 0, 0, 6, 1, 0x86, 0xDD] }, "MACs as given / the interface's own, EtherType IPv6")
    #expect(syns.allSatisfy { dissect($0.bytes, linkType: .ethernet).problems.isEmpty }, "TCP checksums over the IPv6 pseudo-header right at layer 2")
  }
}
