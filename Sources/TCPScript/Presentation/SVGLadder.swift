/// The ladder of an exchange as an SVG picture a teacher can project or hand out.
///
/// Time runs down the page. The client is the left column and the server the right one, each
/// headed by its address; every segment is an arrow between them, labelled with its flags, seq and
/// ack (absolute, or relative to the two initial sequence numbers), with the `--explain` sentence
/// as its caption. Both ends' states are written beside their column on the row where they began
/// (`PeerStates`), starting with the states before the first segment (LISTEN for a waiting
/// server). Two segments sent before either saw the other (a simultaneous open or close) are
/// drawn as crossing arrows. The command line that made the exchange is printed on the page.
///
/// The elements carry their facts as attributes (`class="segment"` groups with `data-flags`,
/// `data-seq`, `data-ack`, `data-direction`; `class="state"` texts with `data-side`), so a test
/// or a script can read the picture back. Pure text: no I/O.
public enum SVGLadder {
  /// What the page shows besides the segments.
  public struct Page: Sendable {
    /// The heading (`tcpcraft handshake 127.0.0.1:8080`).
    public var title: String
    /// Where the picture comes from: the command line, or a script's path.
    public var source: String
    /// Count seq and ack from the initial sequence numbers.
    public var relative: Bool

    public init(title: String, source: String, relative: Bool = false) {
      self.title = title
      self.source = source
      self.relative = relative
    }
  }

  static let width = 1400
  static let leftX = 190
  static let rightX = 610
  static let captionX = 850
  static let slant = 38
  static let captionCharacters = 80

  /// The SVG document for `entries` between `local` and `remote` (`"127.0.0.1:57273"`).
  public static func render(
    _ entries: [TranscriptEntry], local: String, remote: String, ourISS: UInt32?, peerIRS: UInt32?, page: Page
  ) -> String {
    let weAreClient: Bool
    if let first = entries.first {
      weAreClient = !(first.direction == .received && first.has(FlagBits.syn) && !first.has(FlagBits.ack))
    } else {
      weAreClient = true
    }
    let leftName = weAreClient ? "client \(local) (us)" : "client \(remote)"
    let rightName = weAreClient ? "server \(remote)" : "server \(local) (us)"
    let peers = PeerStates(entries)
    let seqBase = page.relative ? ourISS : nil
    let ackBase = page.relative ? peerIRS : nil

    var body: [String] = []
    var y = 40
    body.append(text(escape(page.title), x: 30, y: y, attributes: #"class="title" font-size="20" font-weight="bold""#))
    y += 22
    for line in wrap("source: " + page.source, 140) {
      body.append(text(escape(line), x: 30, y: y, attributes: ##"class="source" font-family="monospace" font-size="12" fill="#555""##))
      y += 15
    }
    if page.relative {
      let bases = "our ISN \(ourISS.map(String.init) ?? "?"), the peer's ISN \(peerIRS.map(String.init) ?? "?")"
      body.append(text(escape("relative numbers: seq and ack counted from each side's initial sequence number (\(bases))"), x: 30, y: y, attributes: ##"class="banner" font-size="12" fill="#555""##))
      y += 15
    }
    y += 20
    body.append(text(escape(leftName), x: leftX, y: y, attributes: #"class="end" text-anchor="middle" font-size="15" font-weight="bold""#))
    body.append(text(escape(rightName), x: rightX, y: y, attributes: #"class="end" text-anchor="middle" font-size="15" font-weight="bold""#))
    y += 26
    let lifelineTop = y - 12
    // The states before the first segment.
    if let first = entries.first {
      let ours = first.stateBefore.description
      let theirs = peers.initial
      body.append(state(weAreClient ? ours : theirs, x: leftX - 12, y: y, anchor: "end", side: weAreClient ? "ours" : "peer", row: -1))
      body.append(state(weAreClient ? theirs : ours, x: rightX + 12, y: y, anchor: "start", side: weAreClient ? "peer" : "ours", row: -1))
      y += 22
    }

    var index = 0
    // Bounded: each pass draws one or two entries.
    while index < entries.count {
      let pairs = index + 1 < entries.count && crossing(entries[index], entries[index + 1])
      let group = pairs ? [index, index + 1] : [index]
      let top = y + 8
      let bottom = top + slant
      for member in group {
        let entry = entries[member]
        let leftToRight = (entry.direction == .sent) == weAreClient
        let (x1, x2) = leftToRight ? (leftX, rightX) : (rightX, leftX)
        let color =
          entry.has(FlagBits.rst) ? "#c0392b" : (!entry.expected ? "#d35400" : (entry.direction == .sent ? "#1f5fbf" : "#1a7f37"))
        let label = Ladder.label(entry, ourISS: seqBase, peerIRS: ackBase)
        var attributes = "class=\"segment\" data-index=\"\(member)\" data-direction=\"\(entry.direction.rawValue)\""
        attributes += " data-flags=\"\(escape(entry.flagNames))\" data-seq=\"\(entry.sequenceNumber)\""
        attributes += " data-ack=\"\(entry.acknowledgmentNumber)\" data-len=\"\(entry.payloadLength)\""
        attributes += " data-from=\"\(leftToRight ? "left" : "right")\" data-crossing=\"\(pairs)\""
        body.append("<g \(attributes)>")
        body.append(
          "<line class=\"arrow\" x1=\"\(x1)\" y1=\"\(top)\" x2=\"\(x2)\" y2=\"\(bottom)\" stroke=\"\(color)\" stroke-width=\"2\"\(entry.expected ? "" : " stroke-dasharray=\"6 4\"") marker-end=\"url(#head\(color.dropFirst()))\"/>")
        // The label sits above the arrow (below it for the second of two crossing arrows).
        let second = pairs && member == group[1]
        let labelX = (leftX + rightX) / 2
        let labelY = second ? bottom + 16 : top - 6
        body.append(
          text(escape(label), x: labelX, y: labelY, attributes: "class=\"label\" text-anchor=\"middle\" font-family=\"monospace\" font-size=\"13\" fill=\"\(color)\""))
        body.append("</g>")
        // States that began with this segment: ours where we sent or received it, the peer's
        // where it sent or received it.
        let ourX = weAreClient ? leftX - 12 : rightX + 12
        let peerX = weAreClient ? rightX + 12 : leftX - 12
        let ourAnchor = weAreClient ? "end" : "start"
        let peerAnchor = weAreClient ? "start" : "end"
        let ourY = entry.direction == .sent ? top + 4 : bottom + 4
        let peerY = entry.direction == .sent ? bottom + 4 : top + 4
        if entry.stateAfter != entry.stateBefore {
          body.append(state(entry.stateAfter.description, x: ourX, y: ourY, anchor: ourAnchor, side: "ours", row: member))
        }
        // Just the state's name here (the TIME-WAIT timer is in the caption).
        if peers.changed.indices.contains(member), peers.changed[member], let peerState = peers.after[member] {
          body.append(state(peerState, x: peerX, y: peerY, anchor: peerAnchor, side: "peer", row: member))
        }
      }
      // Captions beside the ladder, at the height of their arrows.
      var captionY = top + 4
      for member in group {
        let entry = entries[member]
        var caption = Teaching.fullExplanation(entry, among: entries, ourISS: ourISS, peerIRS: peerIRS) ?? ""
        if let note = entry.note { caption = caption.isEmpty ? "(\(note))" : caption + " (\(note))" }
        guard !caption.isEmpty else { continue }
        let prefix = "\(member + 1). " + (pairs ? entry.flagNames + ": " : "")
        for line in wrap(prefix + caption, captionCharacters) {
          body.append(
            text(escape(line), x: captionX, y: captionY, attributes: "class=\"caption\" data-index=\"\(member)\" font-size=\"12\" font-style=\"italic\" fill=\"#333\""))
          captionY += 15
        }
        captionY += 4
      }
      // The time of the segment, left of the picture (the capture files' relative time).
      if let first = entries.first {
        body.append(text(Teaching.time(entries[index], since: first), x: 20, y: top + 4, attributes: ##"class="time" font-family="monospace" font-size="11" fill="#777""##))
      }
      y = max(bottom + (pairs ? 40 : 30), captionY + 10)
      index += group.count
    }
    if let reason = peers.unknownReason {
      body.append(text(escape("(\(reason))"), x: 30, y: y, attributes: ##"class="note" font-size="12" fill="#555""##))
      y += 18
    }
    if entries.isEmpty {
      body.append(text("(no segments)", x: (leftX + rightX) / 2, y: y, attributes: #"class="note" text-anchor="middle" font-size="13""#))
      y += 18
    }
    let height = y + 20
    var svg: [String] = []
    svg.append(#"<?xml version="1.0" encoding="UTF-8"?>"#)
    svg.append(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">")
    svg.append("<title>\(escape(page.title))</title>")
    // One arrowhead a colour (context-stroke is SVG 2, which not every renderer knows).
    svg.append("<defs>")
    for color in ["#1f5fbf", "#1a7f37", "#c0392b", "#d35400"] {
      svg.append(
        "<marker id=\"head\(color.dropFirst())\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"\(color)\"/></marker>")
    }
    svg.append("</defs>")
    svg.append("<rect width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>")
    svg.append(
      "<line class=\"lifeline\" x1=\"\(leftX)\" y1=\"\(lifelineTop)\" x2=\"\(leftX)\" y2=\"\(height - 20)\" stroke=\"#888\" stroke-width=\"1.5\"/>")
    svg.append(
      "<line class=\"lifeline\" x1=\"\(rightX)\" y1=\"\(lifelineTop)\" x2=\"\(rightX)\" y2=\"\(height - 20)\" stroke=\"#888\" stroke-width=\"1.5\"/>")
    svg.append(contentsOf: body)
    svg.append("</svg>")
    return svg.joined(separator: "\n") + "\n"
  }

  /// Whether `second` was sent before its sender saw `first`: opposite directions, both SYN or
  /// both FIN, and `second` does not acknowledge `first` (a simultaneous open or close).
  static func crossing(_ first: TranscriptEntry, _ second: TranscriptEntry) -> Bool {
    guard first.direction != second.direction, !first.has(FlagBits.rst), !second.has(FlagBits.rst) else { return false }
    let bothSYN = first.has(FlagBits.syn) && second.has(FlagBits.syn) && !second.has(FlagBits.ack)
    let bothFIN = first.has(FlagBits.fin) && second.has(FlagBits.fin)
    guard bothSYN || bothFIN else { return false }
    let end = first.sequenceNumber &+ first.sequenceLength
    return !(second.has(FlagBits.ack) && second.acknowledgmentNumber == end)
  }

  private static func state(_ name: String?, x: Int, y: Int, anchor: String, side: String, row: Int) -> String {
    guard let name, !name.isEmpty else { return "" }
    return text(
      escape(name), x: x, y: y,
      attributes: "class=\"state\" data-side=\"\(side)\" data-row=\"\(row)\" text-anchor=\"\(anchor)\" font-size=\"12\" font-weight=\"bold\" fill=\"#222\"")
  }

  private static func text(_ content: String, x: Int, y: Int, attributes: String) -> String {
    "<text x=\"\(x)\" y=\"\(y)\" \(attributes)>\(content)</text>"
  }

  /// `text` with `&`, `<`, `>` and quotes escaped for XML.
  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&apos;"
      // XML 1.0 forbids most control characters: show them as a replacement mark.
      case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}": out += "\u{FFFD}"
      default: out.unicodeScalars.append(character)
      }
    }
    return out
  }

  /// `text` broken at spaces into lines of at most `limit` characters (a longer word stays whole).
  static func wrap(_ text: String, _ limit: Int) -> [String] { TextWrap.lines(text, width: limit) }
}
