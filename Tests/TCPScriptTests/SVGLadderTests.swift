import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PacketKit
import TestSupport
import Testing

@testable import TCPScript

/// The SVG ladder read back as XML: its arrows against the transcript, its states on the rows
/// where they began, crossing arrows for a simultaneous close, and a real renderer's verdict.
@Suite struct SVGLadderTests {
  static let client: IPv4Address = .loopback

  static func entry(
    _ direction: TranscriptEntry.Direction, _ flags: UInt16, seq: UInt32, ack: UInt32, length: Int = 0,
    before: TCPState, after: TCPState, peerBefore: String? = nil, peer: String? = nil, note: String? = nil
  ) -> TranscriptEntry {
    let sent = direction == .sent
    var entry = TranscriptEntry(
      elapsed: .zero, timestampSeconds: 1_632_206_150, timestampNanoseconds: 265_450_000, direction: direction,
      summary: "", sourceAddress: .v4(client), sourcePort: sent ? 57273 : 8080, destinationAddress: .v4(client),
      destinationPort: sent ? 8080 : 57273, flagBits: flags, sequenceNumber: seq, acknowledgmentNumber: ack,
      window: 65535, payloadLength: length, stateBefore: before, stateAfter: after, peerState: peer,
      note: note)
    entry.peerStateBefore = peerBefore
    return entry
  }

  /// The article's handshake and close (seed 001), with the server's kernel states sampled late:
  /// the sample after our FIN already says LAST-ACK (its application closed at once).
  static let article: [TranscriptEntry] = [
    entry(.sent, FlagBits.syn, seq: 84_347_051, ack: 0, before: .closed, after: .synSent, peerBefore: "LISTEN", peer: "SYN-RECEIVED", note: "Our SYN <& \"quoted\">"),
    entry(.received, FlagBits.syn | FlagBits.ack, seq: 2_958_367_133, ack: 84_347_052, before: .synSent, after: .established, peerBefore: "SYN-RECEIVED", peer: "SYN-RECEIVED"),
    entry(.sent, FlagBits.ack, seq: 84_347_052, ack: 2_958_367_134, before: .established, after: .established, peerBefore: "SYN-RECEIVED", peer: "ESTABLISHED"),
    entry(.sent, FlagBits.fin | FlagBits.ack, seq: 84_347_052, ack: 2_958_367_134, before: .established, after: .finWait1, peerBefore: "ESTABLISHED", peer: "LAST-ACK"),
    entry(.received, FlagBits.ack, seq: 2_958_367_134, ack: 84_347_053, before: .finWait1, after: .finWait2, peerBefore: "LAST-ACK", peer: "LAST-ACK"),
    entry(.received, FlagBits.fin | FlagBits.ack, seq: 2_958_367_134, ack: 84_347_053, before: .finWait2, after: .timeWait, peerBefore: "LAST-ACK", peer: "LAST-ACK"),
    entry(.sent, FlagBits.ack, seq: 84_347_053, ack: 2_958_367_135, before: .timeWait, after: .timeWait, peerBefore: "LAST-ACK", peer: "CLOSED"),
  ]

  /// Reads the elements the picture is made of.
  final class Reader: NSObject, XMLParserDelegate {
    struct Element { var name: String; var attributes: [String: String]; var text = "" }
    var elements: [Element] = []
    var stack: [Int] = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
      elements.append(Element(name: name, attributes: attributes))
      stack.append(elements.count - 1)
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) {
      if let last = stack.last { elements[last].text += string }
    }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      _ = stack.popLast()
    }
    static func read(_ svg: String) throws -> [Element] {
      let reader = Reader()
      let parser = XMLParser(data: Data(svg.utf8))
      parser.delegate = reader
      guard parser.parse() else { throw ParseFailed(description: parser.parserError.map { "\($0)" } ?? "unknown") }
      return reader.elements
    }
    struct ParseFailed: Error { var description: String }
  }

  static func render(_ entries: [TranscriptEntry], relative: Bool = false) -> String {
    SVGLadder.render(
      entries, local: "127.0.0.1:57273", remote: "127.0.0.1:8080", ourISS: 84_347_051, peerIRS: 2_958_367_133,
      page: .init(title: "seed 001", source: "tcpcraft handshake 127.0.0.1:8080 --svg a.svg", relative: relative))
  }

  @Test func arrowsMatchTheTranscript() throws {
    let elements = try Reader.read(Self.render(Self.article))
    let segments = elements.filter { $0.name == "g" && $0.attributes["class"] == "segment" }
    #expect(segments.count == Self.article.count)
    let arrows = elements.filter { $0.name == "line" && $0.attributes["class"] == "arrow" }
    #expect(arrows.count == Self.article.count)
    var lastY = 0.0
    for (index, (segment, entry)) in zip(segments, Self.article).enumerated() {
      #expect(segment.attributes["data-flags"] == entry.flagNames)
      #expect(segment.attributes["data-seq"] == String(entry.sequenceNumber))
      #expect(segment.attributes["data-ack"] == String(entry.acknowledgmentNumber))
      #expect(segment.attributes["data-direction"] == entry.direction.rawValue)
      // We are the client: what we send goes left to right, and the x coordinates agree.
      let arrow = arrows[index]
      let x1 = Double(arrow.attributes["x1"] ?? "") ?? 0
      let x2 = Double(arrow.attributes["x2"] ?? "") ?? 0
      #expect((x1 < x2) == (entry.direction == .sent))
      // Time runs down: every arrow slopes down and starts below the one before.
      let y1 = Double(arrow.attributes["y1"] ?? "") ?? 0
      let y2 = Double(arrow.attributes["y2"] ?? "") ?? 0
      #expect(y2 > y1 && y1 > lastY)
      lastY = y1
    }
    // Labels carry flags, seq and ack as the ASCII ladder does.
    let labels = elements.filter { $0.attributes["class"] == "label" }.map(\.text)
    #expect(labels.first == "SYN seq=84347051")
    #expect(labels[1] == "SYN,ACK seq=2958367133 ack=84347052")
    // The explanation and the note are the caption, escaped correctly (it parsed) and read back whole.
    let captions = elements.filter { $0.attributes["class"] == "caption" && $0.attributes["data-index"] == "0" }
    #expect(captions.map(\.text).joined(separator: " ").contains("Our SYN <& \"quoted\">"))
    // The source is on the page.
    #expect(elements.contains { $0.attributes["class"] == "source" && $0.text.contains("tcpcraft handshake 127.0.0.1:8080") })
  }

  @Test func statesAppearOnTheRowWhereTheyBegan() throws {
    let elements = try Reader.read(Self.render(Self.article))
    let states = elements.filter { $0.attributes["class"] == "state" }
    func state(_ side: String, _ row: Int) -> String? {
      states.first { $0.attributes["data-side"] == side && $0.attributes["data-row"] == String(row) }?.text
    }
    // Before the first segment: the server LISTENs, we are CLOSED.
    #expect(state("peer", -1) == "LISTEN")
    #expect(state("ours", -1) == "CLOSED")
    #expect(state("peer", 0) == "SYN-RECEIVED")
    #expect(state("peer", 2) == "ESTABLISHED")
    // The kernel sample after our FIN said LAST-ACK already; the server entered CLOSE-WAIT on
    // that row and LAST-ACK only when it sent its FIN (row 5).
    #expect(state("peer", 3) == "CLOSE-WAIT")
    #expect(state("peer", 4) == nil)
    #expect(state("peer", 5) == "LAST-ACK")
    #expect(state("peer", 6) == "CLOSED")
    #expect(state("ours", 3) == "FIN-WAIT-1")
    #expect(state("ours", 4) == "FIN-WAIT-2")
    #expect(state("ours", 5) == "TIME-WAIT")
    #expect(state("ours", 6) == nil)  // unchanged: TIME-WAIT began on row 5
  }

  @Test func relativeNumbersAndABanner() throws {
    let elements = try Reader.read(Self.render(Self.article, relative: true))
    let labels = elements.filter { $0.attributes["class"] == "label" }.map(\.text)
    #expect(labels[2] == "ACK seq=1 ack=1")
    #expect(elements.contains { $0.attributes["class"] == "banner" && $0.text.contains("relative numbers") })
  }

  @Test func simultaneousCloseCrosses() throws {
    // Both FINs are sent before either side sees the other's (RFC 9293 Figure 13).
    let entries = [
      Self.entry(.sent, FlagBits.fin | FlagBits.ack, seq: 100, ack: 500, before: .established, after: .finWait1),
      Self.entry(.received, FlagBits.fin | FlagBits.ack, seq: 500, ack: 100, before: .finWait1, after: .closing),
      Self.entry(.sent, FlagBits.ack, seq: 101, ack: 501, before: .closing, after: .closing),
      Self.entry(.received, FlagBits.ack, seq: 501, ack: 101, before: .closing, after: .timeWait),
    ]
    let elements = try Reader.read(Self.render(entries))
    let arrows = elements.filter { $0.attributes["class"] == "arrow" }
    #expect(arrows.count == 4)
    let y = arrows.map { (Double($0.attributes["y1"] ?? "") ?? 0, Double($0.attributes["y2"] ?? "") ?? 0) }
    // The two FINs span the same time: they cross. The ACKs that follow do not.
    #expect(y[0] == y[1])
    #expect(y[2].0 > y[1].1 && y[3].0 > y[2].0)
    let crossing = elements.filter { $0.attributes["class"] == "segment" }.map { $0.attributes["data-crossing"] }
    #expect(crossing == ["true", "true", "false", "false"])
  }

  @Test func aRemotePeerSaysWhyItsStateIsBlank() throws {
    let entries = [Self.entry(.sent, FlagBits.syn, seq: 1, ack: 0, before: .closed, after: .synSent)]
    let elements = try Reader.read(Self.render(entries))
    #expect(elements.contains { $0.attributes["class"] == "note" && $0.text.contains("inet_diag sees only local sockets") })
    #expect(!elements.contains { $0.attributes["data-side"] == "peer" })
  }

  @Test func anEmptyTranscriptIsStillAPicture() throws {
    let elements = try Reader.read(Self.render([]))
    #expect(elements.first?.name == "svg")
    #expect(!elements.contains { $0.attributes["class"] == "arrow" })
  }

  @Test(.enabled(if: Privileges.haveTool("rsvg-convert"), "needs rsvg-convert (apt install librsvg2-bin)"))
  func aRealRendererDrawsIt() throws {
    let directory = NSTemporaryDirectory() + "tcpcraft-svg-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let svg = directory + "/ladder.svg"
    let png = directory + "/ladder.png"
    try Self.render(Self.article).write(toFile: svg, atomically: false, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try #require(Privileges.toolPath("rsvg-convert")))
    process.arguments = [svg, "-o", png]
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(process.terminationStatus == 0, "rsvg-convert: \(stderr)")
    #expect(stderr.isEmpty, "rsvg-convert: \(stderr)")
    let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
    #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))  // a PNG
  }
}
