// RFC 8200 / RFC 5095 extension-header cases against Linux, in a namespace of the test's own:
// what Linux answers an ICMPv6 echo request carrying each, compared with what the RFC says.
import Foundation
import Glibc
import PacketKit
import RawSocket
import Testing
import TestSupport

/// What came back for one echo request.
enum IPv6Outcome: Hashable, CustomStringConvertible {
  /// An echo reply.
  case reply
  /// Nothing within the time limit.
  case silent
  /// ICMPv6 parameter problem with this code and pointer.
  case parameterProblem(code: UInt8, pointer: UInt32)
  /// Some other ICMPv6 message.
  case other(type: UInt8, code: UInt8)

  var description: String {
    switch self {
    case .reply: "echo reply"
    case .silent: "no answer"
    case .parameterProblem(let code, let pointer): "parameter problem code \(code) pointer \(pointer)"
    case .other(let type, let code): "ICMPv6 type \(type) code \(code)"
    }
  }
}

@Suite(
  "IPv6 extension-header edge cases against Linux in a namespace", .serialized,
  .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
struct IPv6ExtensionKernelTests {
  static func echo(_ identifier: UInt16, hopLimit: UInt8 = 64, payloadLength: UInt16? = nil, @PacketBuilder extensions: () -> [Layer] = { [] }) -> Packet {
    var packet = Packet(layers: [.ipv6(IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback, payloadLength: payloadLength, hopLimit: hopLimit))])
    packet.layers += extensions()
    return packet / ICMPv6Header.echoRequest(identifier: identifier, sequenceNumber: 1) / "edge"
  }

  /// (name and RFC rule, packet, what the RFC asks for).
  static let cases: [(String, Packet, IPv6Outcome)] = [
    ("RFC 8200 §4.2: unknown option, action 00 (skip): processed", echo(0x7001) {
      IPv6OptionsHeader.destinationOptions([.raw(type: 0x1E, data: [0, 0, 0, 0])])
    }, .reply),
    ("RFC 8200 §4.2: unknown option, action 01: discarded silently", echo(0x7002) {
      IPv6OptionsHeader.destinationOptions([.raw(type: 0x5E, data: [0, 0, 0, 0])])
    }, .silent),
    ("RFC 8200 §4.2: unknown option, action 10: parameter problem code 2 at the option", echo(0x7003) {
      IPv6OptionsHeader.destinationOptions([.raw(type: 0x9E, data: [0, 0, 0, 0])])
    }, .parameterProblem(code: 2, pointer: 42)),
    ("RFC 8200 §4.2: unknown option, action 11, unicast: parameter problem code 2", echo(0x7004) {
      IPv6OptionsHeader.destinationOptions([.raw(type: 0xDE, data: [0, 0, 0, 0])])
    }, .parameterProblem(code: 2, pointer: 42)),
    ("RFC 8200 §4.2: unknown Hop-by-Hop option, action 10: parameter problem code 2", echo(0x7005) {
      IPv6OptionsHeader.hopByHop([.raw(type: 0x9E, data: [0, 0, 0, 0])])
    }, .parameterProblem(code: 2, pointer: 42)),
    ("RFC 8200 §4.3: Hop-by-Hop not right after the IPv6 header: parameter problem code 1", echo(0x7006) {
      IPv6OptionsHeader.destinationOptions()
      IPv6OptionsHeader.hopByHop()
    }, .parameterProblem(code: 1, pointer: 40)),
    ("RFC 8200 §3: hop limit 0 on a packet for this node: processed (only forwarding checks it)", echo(0x7007, hopLimit: 0), .reply),
    ("RFC 8200 §3 / RFC 2675: payload length 0 without a jumbo option: not processed", echo(0x7008, payloadLength: 0), .silent),
    ("RFC 5095 §3: Routing type 0 with segments left: parameter problem code 0 at the type", echo(0x7009) {
      IPv6RoutingHeader.type0(addresses: ["2001:db8::1"], segmentsLeft: 1)
    }, .parameterProblem(code: 0, pointer: 42)),
    ("RFC 5095 §3 / RFC 8200 §4.4: Routing type 0 with no segments left: ignored, processed", echo(0x700A) {
      IPv6RoutingHeader.type0(addresses: ["2001:db8::1"], segmentsLeft: 0)
    }, .reply),
  ]

  /// Sends `packet` to ::1 in `namespace` and says what came back.
  static func outcome(of packet: Packet, in namespace: String) throws -> IPv6Outcome {
    let bytes = try packet.encoded()
    guard case .icmpv6(let request) = packet.layers.first(where: { $0.kind == .icmpv6 }) else { return .silent }
    return try NetworkNamespace.run(named: namespace) {
      let capture = try PacketSocket(interface: "lo", protocol: PacketSocket.ipv6Protocol)
      defer { capture.close() }
      let sender = try RawIPv6Socket()
      defer { sender.close() }
      try sender.send(bytes, to: IPv6Address.loopback.octets)
      let clock = ContinuousClock()
      let end = clock.now.advanced(by: .milliseconds(500))
      var count = 0
      while clock.now < end, count < 1000 {
        count += 1
        guard let frame = try capture.receive(timeout: end - clock.now) else { break }
        guard let view = try? IPv6View(validating: frame.bytes.dropFirst(14)), view.nextHeader == .icmpv6,
          let icmp = try? ICMPv6View(validating: view.payload)
        else { continue }
        switch icmp.type.rawValue {
        case 129 where icmp.identifier == request.identifier: return .reply
        case 1...4:
          // An error quoting our request (its first 40 bytes are our IPv6 header).
          guard Array(icmp.body.prefix(40)) == Array(bytes.prefix(40)) else { continue }
          if icmp.type == .parameterProblem { return .parameterProblem(code: icmp.code, pointer: icmp.restOfHeader) }
          return .other(type: icmp.type.rawValue, code: icmp.code)
        default: continue
        }
      }
      return .silent
    }
  }

  @Test("Linux against RFC 8200 and RFC 5095, case by case")
  func extensionHeaderCases() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let fixture = try VethNamespaceFixture(prefix: "tc6x", hostPrefix: "t6xh", namespacePrefix: "t6xn") { veth in
      [["ip", "-n", veth.name, "link", "set", "lo", "up"]]
    }
    defer {
      fixture.destroy()
      #expect(fixture.isGone)
    }
    for (name, packet, expected) in Self.cases {
      let got = try Self.outcome(of: packet, in: fixture.name)
      #expect(got == expected, "\(name): expected \(expected), Linux gave \(got)")
    }
  }
}
