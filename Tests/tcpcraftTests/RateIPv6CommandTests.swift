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
}
