// `tcpcraft send --count/--rate/--duration` and `tcpcraft sniff --ring`, run as a user runs them
// (the built binary, as root), checked against a capture this test opens itself.
import Foundation
import Glibc
import PacketKit
import RawSocket
import TCPScript
import TestSupport
import Testing
@testable import tcpcraft

enum RateCommandSupport {
  static func randomPort() -> UInt16 { KernelSockets.sourcePort() }

  /// A veth pair for one test: `host` up here, `inside` up and addressed (`ip addr add ADDRESS
  /// dev inside ...`) in a namespace of its own; names carry the pid and a random number.
  /// `remove()` deletes both and checks they are gone (also done when the setup fails).
  struct Veth {
    let namespace: String
    let host: String
    let inside: String

    init(
      tag letter: String, namespace prefix: String, host hostPrefix: String, inside insidePrefix: String,
      hostMAC: String, insideMAC: String, address: [String]
    ) throws {
      let tag = "\(getpid() % 100_000)\(letter)\(UInt16.random(in: 0...9999))"
      namespace = "\(prefix)-\(tag)"
      host = hostPrefix + tag
      inside = insidePrefix + tag
      let setup = [
        ["netns", "add", namespace],
        ["link", "add", host, "address", hostMAC, "type", "veth", "peer", "name", inside, "address", insideMAC, "netns", namespace],
        ["link", "set", host, "up"],
        ["-n", namespace, "link", "set", inside, "up"],
        ["-n", namespace, "addr", "add"] + address.prefix(1) + ["dev", inside] + address.dropFirst(),
      ]
      do {
        for command in setup { try #require(Self.ip(command), "ip \(command.joined(separator: " "))") }
      } catch {
        remove()
        throw error
      }
    }

    static func ip(_ arguments: [String]) -> Bool { (try? Subprocess.status(["ip"] + arguments))?.status == 0 }

    func remove() {
      _ = Self.ip(["netns", "del", namespace])
      _ = Self.ip(["link", "del", host])
      #expect(!CommandRunner.shell(["ip", "netns", "list"]).contains(namespace))
      #expect(!CommandRunner.shell(["ip", "-o", "link", "show"]).contains(host))
    }
  }

  /// A port nobody listens on on 127.0.0.1.
  static func closedPort() throws -> UInt16 { try KernelSockets.unusedPort() }

  static func capture(port: UInt16, interface: String = "lo") throws -> RingCapture {
    try RingCapture(interface: interface, filter: CaptureFilter(parsing: "tcp port \(port)"), geometry: .receive(totalSize: 8 << 20, blockSize: 1 << 16))
  }

  /// Runs `tcpcraft send 127.0.0.1:P --flags S --sport S` + `options`: a burst from a source port
  /// of its own to a closed port, captured on lo by a ring. Returns what the command printed and
  /// the sequence numbers of the SYNs captured (waiting until `count` came, 5 s at most).
  static func sendLoopbackBurst(_ options: [String], count: Int) throws -> (result: CommandRunner.Result, sequences: [UInt32]) {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let sourcePort = randomPort()
    let closed = try closedPort()
    let ring = try Self.capture(port: sourcePort)
    defer { ring.close() }
    let result = try runner.run(["send", "127.0.0.1:\(closed)", "--flags", "S", "--sport", "\(sourcePort)"] + options)
    let frames = try ring.collect(limit: .seconds(5)) { synSequences($0).count >= count }
    return (result, synSequences(frames))
  }

  /// TCP sequence numbers of the plain SYNs among Ethernet frames, in order.
  static func synSequences(_ frames: [CapturedFrame]) -> [UInt32] {
    frames.compactMap { frame -> UInt32? in
      let bytes = frame.bytes
      guard bytes.count >= 54, bytes[12] == 0x08, bytes[13] == 0, bytes[23] == 6 else { return nil }
      let tcp = 14 + Int(bytes[14] & 0x0F) * 4
      guard bytes.count >= tcp + 20, bytes[tcp + 13] & 0x17 == 0x02 else { return nil }
      return bytes[(tcp + 4)..<(tcp + 8)].reduce(0) { $0 << 8 | UInt32($1) }
    }
  }

  /// Parses a one-line JSON object's top-level scalars (enough for our result lines).
  static func json(_ line: String) -> [String: Any]? {
    guard let data = line.data(using: .utf8) else { return nil }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
  }
}

@Suite("tcpcraft send at rate and sniff --ring", .serialized)
struct RateCommandTests {
  @Test("Rate options are checked: one line, exit 2", arguments: [
    ["--count", "0"], ["--count", "x"], ["--rate", "0"], ["--rate", "100000001"], ["--duration", "-1"],
    ["--count", "5", "--walk", "bogus"], ["--count", "5", "--walk", "sport:9-1"], ["--count", "5", "--walk", "flags:"],
    ["--count", "5", "--expect", "SA"], ["--count", "5", "--pcap", "/tmp/x.pcap"], ["--count", "5", "--batch", "2000"],
    ["--count", "5", "--src", "1.2.3"], ["--count", "5", "--l2", "--dst-mac", "zz"],
  ])
  func usageErrors(options: [String]) throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(["send", "127.0.0.1:9", "--flags", "S"] + options)
    #expect(result.status == 2, "\(options): \(result.stderr)")
    #expect(result.errorLines.count == 1)
    #expect(result.stdout.isEmpty)
  }

  @Test("--walk specs become field walks")
  func walkSpecs() throws {
    func walk(_ text: String) throws -> FieldWalk {
      try SendRate.parseWalk(text, sourcePort: 40_000, sequence: 100, identification: 7, destinationPort: 80)
    }
    var burst = try Burst(
      IPv4Header(sourceAddress: IPv4Address(127, 0, 0, 1), destinationAddress: IPv4Address(127, 0, 0, 1))
        / TCPHeader(sourcePort: 40_000, destinationPort: 80, sequenceNumber: 100, flags: .syn),
      walks: [try walk("seq:10"), try walk("sport:1000-1001"), try walk("dport"), try walk("flags:S/SA/F."), try walk("id:3"), try walk("window:5-6")])
    let third = try burst.packet(at: 2)
    let tcp = try TCPView(validating: third[20...])
    #expect(tcp.sequenceNumber == 120)
    #expect(tcp.sourcePort == 1000)
    #expect(tcp.destinationPort == 82)
    #expect(tcp.flags == [.fin, .ack])
    #expect(tcp.window == 5)
    #expect(try IPv4View(validating: third[...]).identification == 13)
  }

  @Test(
    "send --count 2000: every SYN leaves, in order, with walking seq; summary on stdout",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func countedBurst() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (result, sequences) = try RateCommandSupport.sendLoopbackBurst(["--seq", "4294966296", "--count", "2000"], count: 2000)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.lines.count == 1)
    #expect(result.stdout.hasPrefix("tcpcraft: 2000 packets sent, 0 errors in "))
    #expect(sequences == (0..<2000).map { UInt32(truncatingIfNeeded: 4_294_966_296 as UInt64 + UInt64($0)) }, "walks across the 2^32 wrap")
  }

  @Test(
    "send --rate --json: the result object, and every packet arrives",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func pacedJSON() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (result, sequences) = try RateCommandSupport.sendLoopbackBurst(
      ["--seq", "1", "--count", "300", "--rate", "3000", "--json"], count: 300)
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(result.lines.last.flatMap(RateCommandSupport.json))
    #expect(object["type"] as? String == "result")
    #expect(object["ok"] as? Bool == true)
    #expect(object["sent"] as? Int == 300)
    #expect(object["errors"] as? Int == 0)
    #expect(object["target_rate"] as? Int == 3000)
    #expect(object["stopped_by"] as? String == "count")
    #expect(sequences == (1...300).map { UInt32($0) })
  }

  @Test(
    "send --duration bounds an open-ended send; never more than 1 + rate × duration packets",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func durationBound() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let closed = try RateCommandSupport.closedPort()
    let result = try runner.run(["send", "127.0.0.1:\(closed)", "--flags", "S", "--rate", "1000", "--duration", "0.3", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(result.lines.last.flatMap(RateCommandSupport.json))
    #expect(object["stopped_by"] as? String == "duration")
    let sent = try #require(object["sent"] as? Int)
    #expect(sent >= 1 && sent <= 301, "the pacer's bound, not a timing threshold")
  }

  @Test(
    "sniff --ring -w --count: exactly N packets in the pcap, tcpdump's three lines at the end",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func ringSniffToPcap() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let sourcePort = RateCommandSupport.randomPort()
    let closed = try RateCommandSupport.closedPort()
    let path = NSTemporaryDirectory() + "tcpcraft-ring-\(getpid())-\(sourcePort).pcap"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sniff = try runner.start(["sniff", "--ring", "-i", "lo", "-w", path, "--count", "500", "--timeout", "15", "tcp", "port", "\(sourcePort)"])
    // Keep sending bursts until the sniffer has its 500 (bounded: at most 40 rounds).
    let socket = try RawIPv4Socket()
    defer { socket.close() }
    var burst = try Burst(
      IPv4Header(sourceAddress: IPv4Address(127, 0, 0, 1), destinationAddress: IPv4Address(127, 0, 0, 1), identification: 1)
        / TCPHeader(sourcePort: sourcePort, destinationPort: closed, flags: .syn),
      walks: [.sequenceNumber(start: 0)])
    var round = 0
    while sniff.process.isRunning, round < 40 {
      let packets = try (0..<100).map { index throws(PacketError) in try burst.packet(at: round * 100 + index) }
      _ = try socket.send(batch: packets, to: 0x7F00_0001)
      round += 1
      usleep(100_000)
    }
    let result = sniff.finish(timeout: 10)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.isEmpty, "with -w no line a packet")
    let counts = result.errorLines.suffix(3)
    #expect(counts.first == "500 packets captured")
    #expect(counts.dropFirst().first?.hasSuffix("packets received by filter") == true)
    #expect(counts.last == "0 packets dropped by kernel")
    let bytes = try #require(FileManager.default.contents(atPath: path))
    let (header, records) = try PcapReader.read(Array(bytes))
    #expect(header.linkType == .ethernet)
    #expect(records.count == 500)
    #expect(records.allSatisfy { record in
      dissect(record.data, linkType: .ethernet).summary.contains(".\(sourcePort)")
    })
  }

  /// Packet sockets bound to `lo` for every protocol (`/proc/net/packet`: Proto 0003, Iface 1).
  static func boundLoopbackPacketSockets() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/net/packet", encoding: .utf8) else { return 0 }
    return text.split(separator: "\n").dropFirst().filter { line in
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      return fields.count > 4 && fields[3] == "0003" && fields[4] == "1"
    }.count
  }

  @Test(
    "sniff --ring prints exactly what plain sniff prints for the same traffic (text and JSON)",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"),
    arguments: [false, true])
  func ringSniffEqualsPlainSniff(json: Bool) throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let sourcePort = RateCommandSupport.randomPort()
    let closed = try RateCommandSupport.closedPort()
    let before = Self.boundLoopbackPacketSockets()
    let common = ["-i", "lo", "--count", "200", "--timeout", "15"] + (json ? ["--json"] : []) + ["tcp", "port", "\(sourcePort)"]
    let plain = try runner.start(["sniff"] + common)
    let ring = try runner.start(["sniff", "--ring"] + common)
    // Both capturing (bound to lo) before the first packet: bounded wait.
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: .seconds(10))
    while Self.boundLoopbackPacketSockets() < before + 2, clock.now < end { usleep(20_000) }
    usleep(100_000)
    let socket = try RawIPv4Socket()
    defer { socket.close() }
    var burst = try Burst(
      IPv4Header(sourceAddress: IPv4Address(127, 0, 0, 1), destinationAddress: IPv4Address(127, 0, 0, 1), identification: 1)
        / TCPHeader(sourcePort: sourcePort, destinationPort: closed, flags: .syn),
      walks: [.sequenceNumber(start: 7), .identification(start: 1)])
    let packets = try (0..<100).map { index throws(PacketError) in try burst.packet(at: index) }
    _ = try socket.send(batch: packets, to: 0x7F00_0001)
    let plainResult = plain.finish(timeout: 15)
    let ringResult = ring.finish(timeout: 15)
    #expect(plainResult.status == 0 && ringResult.status == 0, "\(plainResult.stderr) \(ringResult.stderr)")
    let perPacket = { (lines: [String]) in lines.filter { !$0.contains("\"type\":\"result\"") } }
    let plainLines = perPacket(plainResult.lines)
    let ringLines = perPacket(ringResult.lines)
    #expect(plainLines.count == 200, "100 SYNs and the kernel's 100 RSTs")
    #expect(ringLines == plainLines)
    if !json {
      #expect(ringResult.errorLines.suffix(3).first == "200 packets captured")
      #expect(plainLines.filter { $0.contains("Flags [S]") }.count == 100)
    }
  }

  @Test(
    "send --iface over a veth (TX ring): every frame arrives in the namespace",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func layerTwoOverVeth() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let veth = try RateCommandSupport.Veth(
      tag: "c", namespace: "tccli", host: "rch", inside: "rcn", hostMAC: "02:00:00:00:02:01", insideMAC: "02:00:00:00:02:02",
      address: ["10.97.0.2/24"])
    defer { veth.remove() }
    let (namespace, host, inside) = (veth.namespace, veth.host, veth.inside)
    let sourcePort = RateCommandSupport.randomPort()
    let capture = try NetworkNamespace.run(named: namespace) { try RateCommandSupport.capture(port: sourcePort, interface: inside) }
    defer { capture.close() }
    let result = try runner.run([
      "send", "10.97.0.2:9", "--flags", "S", "--sport", "\(sourcePort)", "--seq", "1000", "--count", "1500",
      "--iface", host, "--src", "10.97.0.1", "--dst-mac", "02:00:00:00:02:02", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(result.lines.last.flatMap(RateCommandSupport.json))
    #expect(object["sent"] as? Int == 1500)
    #expect(object["layer"] as? Int == 2)
    let frames = try capture.collect(limit: .seconds(5)) { RateCommandSupport.synSequences($0).count >= 1500 }
    let syns = frames.filter { $0.packetType == .host }
    #expect(RateCommandSupport.synSequences(syns) == (0..<1500).map { 1000 + UInt32($0) })
    #expect(syns.allSatisfy { Array($0.bytes[0..<12]) == [2, 0, 0, 0, 2, 2, 2, 0, 0, 0, 2, 1] }, "MACs as given / the interface's own")
    #expect(syns.allSatisfy { dissect($0.bytes, linkType: .ethernet).problems.isEmpty }, "IPv4 and TCP checksums right at layer 2")
  }
}
