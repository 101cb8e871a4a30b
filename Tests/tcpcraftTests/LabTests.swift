import Foundation
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Every lab in `examples/labs/` run as a student runs it (`bash run.sh`, as root), its output
/// asserted, its SVG read back and rendered, its pcapng's packet comments read by tshark.
@Suite(.serialized) struct LabTests {
  static let labs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("examples/labs")

  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
    var directory: String
  }

  /// Runs `examples/labs/<lab>/run.sh` with its files going to a fresh directory (60 s at most).
  static func run(_ lab: String) throws -> Run {
    let binary = try #require(CommandRunner.binary, "tcpcraft binary not found; build it first")
    let directory = NSTemporaryDirectory() + "tcpcraft-lab-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try #require(Privileges.toolPath("bash")))
    process.arguments = [labs.appendingPathComponent(lab).appendingPathComponent("run.sh").path]
    var environment = ProcessInfo.processInfo.environment
    environment["TCPCRAFT"] = binary
    environment["OUT"] = directory
    process.environment = environment
    let outFile = directory + "/.stdout"
    let errFile = directory + "/.stderr"
    _ = FileManager.default.createFile(atPath: outFile, contents: nil)
    _ = FileManager.default.createFile(atPath: errFile, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outFile))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    if process.isRunning {
      // Ours: the process we started; its own trap ends what it started.
      process.terminate()
      process.waitUntilExit()
    }
    let stdout = (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
    return Run(status: process.terminationStatus, stdout: stdout, stderr: stderr, directory: directory)
  }

  /// The `class="segment"` groups of an SVG: (flags, direction, seq, ack), and the state labels.
  final class SVG: NSObject, XMLParserDelegate {
    var segments: [(flags: String, direction: String, seq: UInt32, ack: UInt32, length: Int)] = []
    var states: [(side: String, row: Int, text: String)] = []
    private var stateOpen: (String, Int)?
    private var text = ""

    init(path: String) throws {
      super.init()
      let parser = try #require(XMLParser(contentsOf: URL(fileURLWithPath: path)))
      parser.delegate = self
      #expect(parser.parse(), "\(path) is not well-formed XML: \(String(describing: parser.parserError))")
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
      if attributes["class"] == "segment" {
        segments.append(
          (attributes["data-flags"] ?? "", attributes["data-direction"] ?? "", UInt32(attributes["data-seq"] ?? "") ?? 0,
           UInt32(attributes["data-ack"] ?? "") ?? 0, Int(attributes["data-len"] ?? "") ?? -1))
      }
      if attributes["class"] == "state" {
        stateOpen = (attributes["data-side"] ?? "", Int(attributes["data-row"] ?? "") ?? -2)
        text = ""
      }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { if stateOpen != nil { text += string } }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      if let open = stateOpen, name == "text" {
        states.append((open.0, open.1, text))
        stateOpen = nil
      }
    }
    func peerStates() -> [String] { states.filter { $0.side == "peer" }.map(\.text) }
  }

  /// Checks the SVG renders with a real renderer (when installed).
  static func renders(_ path: String) throws {
    guard let rsvg = Privileges.toolPath("rsvg-convert") else { return }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: rsvg)
    process.arguments = [path, "-o", path + ".png"]
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "rsvg-convert failed on \(path)")
    try? FileManager.default.removeItem(atPath: path + ".png")
  }

  /// The packet comments of a pcapng, one a packet, read by tshark (nil when tshark is missing).
  static func comments(_ path: String) throws -> [String]? {
    guard let tshark = Privileges.toolPath("tshark") else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tshark)
    process.arguments = ["-r", path, "-T", "fields", "-e", "frame.comment"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "tshark failed on \(path)")
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
  }

  static var canRun: Bool {
    Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("python3") && Privileges.haveTool("ip")
  }

  /// Runs `lab`, checks its exit status and its files, and hands back what to assert further.
  static func check(_ lab: String, files: [String]) throws -> (Run, [String: SVG], [String: [String]]) {
    try Privileges.check(.netRaw, .netAdmin)
    let run = try run(lab)
    #expect(run.status == 0, "\(lab) failed:\n\(run.stdout)\n\(run.stderr)")
    var svgs: [String: SVG] = [:]
    var captures: [String: [String]] = [:]
    for file in files {
      let path = run.directory + "/" + file
      #expect(FileManager.default.fileExists(atPath: path), "\(lab) did not write \(file)")
      guard FileManager.default.fileExists(atPath: path) else { continue }
      if file.hasSuffix(".svg") {
        svgs[file] = try SVG(path: path)
        try renders(path)
      } else if let lines = try comments(path) {
        captures[file] = lines
      }
    }
    return (run, svgs, captures)
  }

  static func cleanUp(_ run: Run) { try? FileManager.default.removeItem(atPath: run.directory) }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func handshake() throws {
    let (run, svgs, captures) = try Self.check("01-handshake", files: ["handshake.svg", "handshake.pcapng"])
    defer { Self.cleanUp(run) }
    for text in ["CLOSED → SYN-SENT", "peer LISTEN → SYN-RECEIVED", "ack = our ISN + 1", "First SYN", "Window scale 7", "ESTABLISHED: "] {
      #expect(run.stdout.contains(text), "missing \(text)")
    }
    let svg = try #require(svgs["handshake.svg"])
    #expect(svg.segments.map(\.flags) == ["SYN", "SYN,ACK", "ACK"])
    #expect(svg.segments[1].ack == svg.segments[0].seq &+ 1)
    #expect(svg.segments[2].ack == svg.segments[1].seq &+ 1)
    #expect(svg.peerStates() == ["LISTEN", "SYN-RECEIVED", "ESTABLISHED"])
    if let comments = captures["handshake.pcapng"] {
      #expect(comments.count == 3)
      #expect(comments.first?.contains("us: CLOSED → SYN-SENT | peer: LISTEN → SYN-RECEIVED") == true)
      #expect(comments.first?.contains("First SYN") == true)
    }
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func close() throws {
    let (run, svgs, captures) = try Self.check("02-close", files: ["close.svg", "close.pcapng"])
    defer { Self.cleanUp(run) }
    for text in ["ESTABLISHED → FIN-WAIT-1", "FIN-WAIT-1 → FIN-WAIT-2", "FIN-WAIT-2 → TIME-WAIT", "peer ESTABLISHED → CLOSE-WAIT"] {
      #expect(run.stdout.contains(text), "missing \(text)")
    }
    let svg = try #require(svgs["close.svg"])
    #expect(svg.segments.map(\.flags) == ["FIN,ACK", "ACK", "FIN,ACK", "ACK"])
    #expect(svg.segments.map(\.direction) == ["out", "in", "in", "out"])
    #expect(svg.peerStates() == ["ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"])
    if let comments = captures["close.pcapng"] {
      #expect(comments.count == 4)
      #expect(comments.last?.contains("TIME-WAIT for 2·MSL") == true)
    }
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func halfClose() throws {
    let (run, svgs, _) = try Self.check("03-half-close", files: ["half-close.svg", "half-close.pcapng"])
    defer { Self.cleanUp(run) }
    #expect(run.stdout.contains("Half-close: the peer's FIN closed only its direction"))
    #expect(run.stdout.contains("client received 28 bytes after its own FIN: b'still talking after your FIN'"))
    let svg = try #require(svgs["half-close.svg"])
    // Our data goes after the client's FIN.
    let clientFIN = try #require(svg.segments.firstIndex { $0.direction == "in" && $0.flags.contains("FIN") })
    #expect(svg.segments[(clientFIN + 1)...].contains { $0.direction == "out" && $0.flags == "PSH,ACK" })
    #expect(svg.peerStates().contains("FIN-WAIT-2"))
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func mergedClose() throws {
    let (run, svgs, _) = try Self.check("04-merged-close", files: ["merged-close.svg", "merged-close.pcapng"])
    defer { Self.cleanUp(run) }
    let svg = try #require(svgs["merged-close.svg"])
    // The client's FIN is answered by one FIN+ACK that acknowledges it: no bare ACK between.
    let clientFIN = try #require(svg.segments.firstIndex { $0.direction == "in" && $0.flags.contains("FIN") })
    let answer = try #require(svg.segments[(clientFIN + 1)...].first { $0.direction == "out" })
    #expect(answer.flags == "FIN,ACK")
    #expect(answer.ack == svg.segments[clientFIN].seq &+ 1)
    // The client skips FIN-WAIT-2, and its TIME-WAIT timer is seen.
    #expect(!svg.peerStates().contains("FIN-WAIT-2"))
    #expect(svg.peerStates().contains { $0.hasPrefix("TIME-WAIT") })
    #expect(run.stdout.contains("2·MSL timer: "))
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func refused() throws {
    let (run, svgs, _) = try Self.check("05-refused", files: ["refused.svg", "refused.pcapng"])
    defer { Self.cleanUp(run) }
    #expect(run.stdout.contains("handshake exit status: 1"))
    #expect(run.stdout.contains("(port closed)"))
    #expect(run.stderr.contains("nothing is listening on that port"))
    let svg = try #require(svgs["refused.svg"])
    #expect(svg.segments.map(\.flags) == ["SYN", "RST,ACK"])
    #expect(svg.segments[1].ack == svg.segments[0].seq &+ 1)
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func mss() throws {
    let (run, svgs, _) = try Self.check("06-mss", files: ["mss.svg", "mss.pcapng"])
    defer { Self.cleanUp(run) }
    #expect(run.stdout.contains("options [mss 536]"))
    #expect(run.stdout.contains("min(65495, 536) = 536"))
    #expect(run.stdout.contains("received 1500 bytes"))
    // In the lab's namespace loopback cuts at the MSS: 536 + 536 + 428, each acknowledged.
    let svg = try #require(svgs["mss.svg"])
    #expect(svg.segments.first?.flags == "SYN")
    let data = svg.segments.filter { $0.direction == "in" && $0.length > 0 }
    #expect(data.map(\.length) == [536, 536, 428])
    for piece in data {
      #expect(svg.segments.contains { $0.direction == "out" && $0.ack == piece.seq &+ UInt32(piece.length) })
    }
    #expect(!run.stdout.contains("more than the MSS"))
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func mssOverVeth() throws {
    let (run, svgs, captures) = try Self.check(
      "08-mss-veth",
      files: ["mss-veth-handshake.svg", "mss-veth-handshake.pcapng", "mss-veth-data.svg", "mss-veth-data.pcapng"])
    defer { Self.cleanUp(run) }
    // The server's kernel announces the MSS its MTU allows (576 - 40), unasked; the smaller wins.
    #expect(run.stdout.contains("joined by a veth pair (MTU 576: each side announces MSS 576 - 40 = 536)"))
    #expect(run.stdout.contains("Flags [S], seq"))
    #expect(run.stdout.contains("options [mss 1460]"))
    #expect(run.stdout.contains("Flags [S.]") && run.stdout.contains("options [mss 536]"))
    #expect(run.stdout.contains("min(1460, 536) = 536"))
    // Both ends' states: the server's, read in its own namespace.
    #expect(run.stdout.contains("peer LISTEN → SYN-RECEIVED"))
    #expect(run.stdout.contains("peer LAST-ACK → CLOSED"))
    let handshake = try #require(svgs["mss-veth-handshake.svg"])
    #expect(handshake.segments.map(\.flags) == ["SYN", "SYN,ACK", "ACK"])
    // The 1608-byte reply crossed the veth as 3 segments of 536, each acknowledged.
    let data = try #require(svgs["mss-veth-data.svg"])
    let pieces = data.segments.filter { $0.direction == "in" && $0.length > 0 }
    #expect(pieces.map(\.length) == [536, 536, 536])
    for piece in pieces {
      #expect(data.segments.contains { $0.direction == "out" && $0.ack == piece.seq &+ UInt32(piece.length) })
    }
    #expect(run.stdout.contains("the peer replied 1608 bytes"))
    #expect(!run.stdout.contains("more than the MSS"))
    if let comments = captures["mss-veth-data.pcapng"] {
      #expect(comments.filter { $0.contains("The peer sends 536 bytes") }.count == 3)
    }
  }

  @Test(.enabled(if: canRun, "needs root, python3 and ip (iproute2)")) func flags() throws {
    let (run, _, captures) = try Self.check(
      "07-flags", files: ["flags-syn.svg", "flags-rst.svg", "flags-fin-psh-urg.svg", "flags-bad-checksum.svg", "flags-bad-checksum.pcapng"])
    defer { Self.cleanUp(run) }
    for text in ["First SYN", "First ACK", "First RST", "First FIN", "First PSH", "First URG", "[bad TCP checksum 0xdead, should be 0x"] {
      #expect(run.stdout.contains(text), "missing \(text)")
    }
    #expect(run.stdout.contains("sent; no reply within 1 s"))
    if let comments = captures["flags-bad-checksum.pcapng"] {
      #expect(comments.first?.contains("bad TCP checksum 0xdead") == true)
    }
  }
}
