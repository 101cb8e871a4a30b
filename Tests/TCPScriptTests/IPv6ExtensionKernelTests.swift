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
    guard case .icmpv6(let request) = packet.layers.first(where: { $0.kind == .icmpv6 }) else { return .silent }
    return try outcome(of: [try packet.encoded()], identifier: request.identifier, in: namespace)
  }

  /// Sends `packets` (e.g. fragments) to ::1 in `namespace` and says what came back: an echo
  /// reply with `identifier`, or an ICMPv6 error quoting the first packet's IPv6 header.
  static func outcome(of packets: [[UInt8]], identifier: UInt16, in namespace: String) throws -> IPv6Outcome {
    let bytes = packets.first ?? []
    return try NetworkNamespace.run(named: namespace) {
      let capture = try PacketSocket(interface: "lo", protocol: PacketSocket.ipv6Protocol)
      defer { capture.close() }
      let sender = try RawIPv6Socket()
      defer { sender.close() }
      for packet in packets { try sender.send(packet, to: IPv6Address.loopback.octets) }
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
        case 129 where icmp.identifier == identifier: return .reply
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
    for (name, packets, identifier, expected) in try Self.chainCases() {
      let got = try Self.outcome(of: packets, identifier: identifier, in: fixture.name)
      #expect(got == expected, "\(name): expected \(expected), Linux gave \(got)")
    }
  }

  /// Header-chain cases: (name and rule, packets to send, echo identifier, expected).
  static func chainCases() throws -> [(String, [[UInt8]], UInt16, IPv6Outcome)] {
    // A 64-byte Destination Options header before the echo request, fragmented so that the
    // first fragment carries only part of the header chain (RFC 7112).
    let longOptions = echo(0x7101) {
      IPv6OptionsHeader.destinationOptions([.padN(length: 6), .raw(type: 0x1E, data: [UInt8](repeating: 0, count: 54))])
    }
    let split = try longOptions.ipv6Fragments(maximumSize: 40 + 8 + 32, identification: 0x7101)
    // The same, whole: the positive control.
    let whole = try longOptions.ipv6Fragments(maximumSize: 1280, identification: 0x7102)
    // Nine unknown skip options in one header: over Linux's net.ipv6.max_dst_opts_number (8).
    let nineOptions = echo(0x7103) {
      IPv6OptionsHeader.destinationOptions([IPv6Option](repeating: .raw(type: 0x1E, data: []), count: 9))
    }
    // Chains of 2, 3 and 16 Destination Options headers.
    func chain(_ count: Int, _ identifier: UInt16) throws -> [[UInt8]] {
      var packet = Packet(layers: [.ipv6(IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback))])
      for _ in 0..<count { packet.layers.append(.ipv6Options(.destinationOptions())) }
      return [try (packet / ICMPv6Header.echoRequest(identifier: identifier, sequenceNumber: 1) / "edge").encoded()]
    }
    return [
      ("RFC 7112 §5: first fragment without the whole header chain: parameter problem code 3", split, 0x7101,
       .parameterProblem(code: 3, pointer: 0)),
      ("RFC 6946: the same datagram as one atomic fragment: processed", whole, 0x7101, .reply),
      ("RFC 8504 §5.3: nine options in a Destination Options header, over the node's limit", [try nineOptions.encoded()],
       0x7103, .silent),
      ("RFC 8200 §4.1: two Destination Options headers (allowed: at most twice)", try chain(2, 0x7104), 0x7104, .reply),
      ("RFC 8200 §4.1: three Destination Options headers (not forbidden to a receiver)", try chain(3, 0x7105), 0x7105, .reply),
      // RFC 8200 sets no limit on a chain; RFC 8504 §5.3 lets a node set one. Linux 6.18's, found
      // here: a chain of 12 Destination Options headers is processed, 13 or more are dropped
      // without an answer.
      ("RFC 8504 §5.3: 12 Destination Options headers: within Linux's limit", try chain(12, 0x7106), 0x7106, .reply),
      ("RFC 8504 §5.3: 13 Destination Options headers: over Linux's limit, dropped", try chain(13, 0x7107), 0x7107, .silent),
      ("RFC 8504 §5.3: 16 Destination Options headers: dropped", try chain(16, 0x7108), 0x7108, .silent),
    ]
  }
}
