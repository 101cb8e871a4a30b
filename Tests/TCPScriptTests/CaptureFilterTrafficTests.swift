// Each filter operator against real traffic on lo: crafted packets from a source address of our
// own (127.x.y.z, random per run) go out through a raw socket, and packet sockets with the text
// filter and with the value filter attached must keep exactly the expected packets, once each.
import Glibc
import Testing
import TestSupport
import RawSocket
import PacketKit
import TCPScript

/// Crafted IPv4 packets with correct checksums (RFC 1071, the plain loop).
enum TrafficPackets {
  static func checksum(_ bytes: [UInt8]) -> UInt16 { HandBuilt.checksum(bytes) }
  static func be16(_ v: UInt16) -> [UInt8] { HandBuilt.be16(v) }
  static func be32(_ v: UInt32) -> [UInt8] { HandBuilt.be32(v) }

  static func ipv4(
    _ source: UInt32, _ destination: UInt32, protocol proto: UInt8, id: UInt16, payload: [UInt8],
    options: [UInt8] = [], fragmentOffset: UInt16 = 0
  ) -> [UInt8] {
    HandBuilt.ipv4(
      source: source, destination: destination, protocol: proto, identification: id, payload: payload,
      flagsAndFragment: fragmentOffset == 0 ? 0x4000 : fragmentOffset, options: options)
  }

  static func tcp(
    _ source: UInt32, _ destination: UInt32, _ sourcePort: UInt16, _ destinationPort: UInt16,
    flags: UInt8, id: UInt16
  ) -> [UInt8] {
    let segment = HandBuilt.tcp(
      source: source, destination: destination, sourcePort: sourcePort, destinationPort: destinationPort,
      sequence: 1000, acknowledgment: flags & 0x10 != 0 ? 2000 : 0, flags: flags, window: 8192)
    return ipv4(source, destination, protocol: 6, id: id, payload: segment)
  }

  static func udp(_ source: UInt32, _ destination: UInt32, _ sourcePort: UInt16, _ destinationPort: UInt16, id: UInt16) -> [UInt8] {
    // Checksum 0: "none" is legal for UDP over IPv4.
    let datagram = be16(sourcePort) + be16(destinationPort) + be16(12) + [0, 0] + [0x74, 0x63, 0x72, 0x73]
    return ipv4(source, destination, protocol: 17, id: id, payload: datagram)
  }

  static func icmpEcho(_ source: UInt32, _ destination: UInt32, id: UInt16) -> [UInt8] {
    var message: [UInt8] = [8, 0, 0, 0] + be16(id) + be16(1)
    let sum = checksum(message)
    message[2] = UInt8(sum >> 8)
    message[3] = UInt8(sum & 0xFF)
    return ipv4(source, destination, protocol: 1, id: id, payload: message)
  }
}

@Suite("Capture filters against real traffic on lo")
struct CaptureFilterTrafficTests {
  @Test(
    "Text and value filters keep exactly the expected packets, once each",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func everyOperatorOnRealTraffic() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // A source address of our own in 127/8 keeps other traffic on lo out of every capture.
    let source: UInt32 = 0x7F00_0000 | UInt32.random(in: 100...250) << 16 | UInt32.random(in: 0...255) << 8
      | UInt32.random(in: 1...200)
    let d1 = source + 1
    let d2 = source + 2
    let (sp1, sp2, sp3): (UInt16, UInt16, UInt16) = (40_001, 40_002, 40_003)
    let baseID = UInt16.random(in: 1...60_000)
    let packets: [(bytes: [UInt8], destination: UInt32)] = [
      (TrafficPackets.tcp(source, d1, sp1, 80, flags: 0x02, id: baseID), d1),          // 0 SYN
      (TrafficPackets.tcp(source, d1, sp1, 80, flags: 0x10, id: baseID + 1), d1),      // 1 ACK
      (TrafficPackets.tcp(source, d2, 80, sp2, flags: 0x12, id: baseID + 2), d2),      // 2 SYN+ACK
      (TrafficPackets.udp(source, d1, 5353, 53, id: baseID + 3), d1),                  // 3 UDP
      (TrafficPackets.icmpEcho(source, d2, id: baseID + 4), d2),                       // 4 ICMP echo
      (TrafficPackets.tcp(source, d2, sp1, 443, flags: 0x04, id: baseID + 5), d2),     // 5 RST
      (TrafficPackets.tcp(source, d1, sp3, 8080, flags: 0x11, id: baseID + 6), d1),    // 6 FIN+ACK (IHL 6 below)
      (TrafficPackets.ipv4(                                                             // 7 later fragment
        source, d1, protocol: 6, id: baseID + 7,
        payload: [0, 80, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0], fragmentOffset: 185), d1),
    ]
    var allPackets = packets
    // Packet 6 again with IPv4 options (IHL 6: nop,nop,nop,eol) so the ports move by 4 bytes.
    allPackets[6].bytes = {
      let plain = packets[6].bytes
      let segment = Array(plain[20...])
      return TrafficPackets.ipv4(source, d1, protocol: 6, id: baseID + 6, payload: segment, options: [1, 1, 1, 0])
    }()

    let d1Text = dotted(d1)
    let d2Text = dotted(d2)
    let cases: [(text: String, value: CaptureFilter, expected: Set<Int>)] = [
      ("tcp", .tcp, [0, 1, 2, 5, 6, 7]),
      ("udp", .udp, [3]),
      ("icmp", .icmp, [4]),
      ("dst host \(d1Text)", .host(IPv4Address(rawValue: d1), .destination), [0, 1, 3, 6, 7]),
      ("host \(d2Text)", .host(IPv4Address(rawValue: d2)), [2, 4, 5]),
      ("port 80", .port(80), [0, 1, 2]),
      ("src port 80", .port(80, .source), [2]),
      ("dst port 80", .port(80, .destination), [0, 1]),
      ("port 8080", .port(8080), [6]),
      ("tcp[tcpflags] & tcp-syn != 0", .tcpFlags(.anySet(0x02)), [0, 2]),
      ("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", .tcpFlags(.exactly(0x02, among: 0x12)), [0]),
      ("tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", .tcpFlags(.anySet(0x05)), [5, 6]),
      ("not tcp", !.tcp, [3, 4]),
      ("tcp and not port 80", .tcp && !.port(80), [5, 6, 7]),
      ("udp or icmp", .udp || .icmp, [3, 4]),
      ("! (tcp || udp)", !(.tcp || .udp), [4]),
      ("icmp or dst port 53 and udp", (.icmp || .port(53, .destination)) && .udp, [3]),
      ("port 80 or 443", .port(80) || .port(443), [0, 1, 2, 5]),
      ("tcp && dst host \(d1Text) && !(tcp[tcpflags] & tcp-syn != 0)",
       .tcp && .host(IPv4Address(rawValue: d1), .destination) && !.tcpFlags(.anySet(0x02)), [1, 6, 7]),
    ]

    // Two captures per case: the text filter and the value filter, each behind `src host S`.
    var captures: [(text: PacketSocket, value: PacketSocket)] = []
    defer {
      for pair in captures {
        pair.text.close()
        pair.value.close()
      }
    }
    for entry in cases {
      let parsed = try CaptureFilter(parsing: "src host \(dotted(source)) and (\(entry.text))")
      let built: CaptureFilter = .host(IPv4Address(rawValue: source), .source) && entry.value
      #expect(parsed == built, "\(entry.text)")
      #expect(try parsed.compile() == built.compile())
      captures.append(
        (try PacketSocket(interface: "lo", captureFilter: parsed),
         try PacketSocket(interface: "lo", filter: try built.compile())))
    }

    let sender = try RawIPv4Socket()
    defer { sender.close() }
    for packet in allPackets { try sender.send(packet.bytes, to: packet.destination) }

    func index(of frame: CapturedFrame) -> Int? {
      guard frame.bytes.count >= 20 else { return nil }
      let id = UInt16(frame.bytes[18]) << 8 | UInt16(frame.bytes[19])
      let offset = Int(id) - Int(baseID)
      return (0..<allPackets.count).contains(offset) ? offset : nil
    }
    func drain(_ socket: PacketSocket, until count: Int) throws -> [CapturedFrame] {
      var frames: [CapturedFrame] = []
      let clock = ContinuousClock()
      let end = clock.now.advanced(by: .seconds(3))
      while frames.count < count, clock.now < end, let frame = try socket.receive(timeout: end - clock.now) {
        frames.append(frame)
      }
      return frames
    }
    var received: [(text: [CapturedFrame], value: [CapturedFrame])] = []
    for (entry, pair) in zip(cases, captures) {
      received.append((try drain(pair.text, until: entry.expected.count), try drain(pair.value, until: entry.expected.count)))
    }
    // One shared pause for stragglers (a filter letting too much through, or duplicates).
    usleep(300_000)
    for (position, pair) in captures.enumerated() {
      while let frame = try pair.text.receive(timeout: .zero) { received[position].text.append(frame) }
      while let frame = try pair.value.receive(timeout: .zero) { received[position].value.append(frame) }
    }

    for (entry, frames) in zip(cases, received) {
      let textIndices = frames.text.map(index(of:))
      let valueIndices = frames.value.map(index(of:))
      #expect(Set(textIndices.compactMap { $0 }) == entry.expected, "text: \(entry.text) -> \(textIndices)")
      #expect(textIndices.count == entry.expected.count, "once each, nothing else: \(entry.text) -> \(textIndices)")
      #expect(valueIndices == textIndices, "value filter behaves as the text filter: \(entry.text)")
      #expect(frames.text.map(\.bytes) == frames.value.map(\.bytes))
    }
  }

  func dotted(_ address: UInt32) -> String {
    "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF)"
  }
}
