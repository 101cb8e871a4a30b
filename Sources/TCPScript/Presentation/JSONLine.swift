import PacketKit
/// A JSON object written as one line, keys in the order they were added.
///
/// Hand-written (no Foundation) so that `--json` output has a stable key order a test or a
/// harness can rely on.
public struct JSONLine: Sendable, CustomStringConvertible {
  private var fields: [(String, String)] = []

  public init() {}

  public mutating func add(_ key: String, _ value: String?) {
    fields.append((key, value.map(JSONLine.quote) ?? "null"))
  }
  public mutating func add(_ key: String, _ value: Int) { fields.append((key, String(value))) }
  public mutating func add(_ key: String, _ value: Int64) { fields.append((key, String(value))) }
  public mutating func add(_ key: String, _ value: UInt32) { fields.append((key, String(value))) }
  public mutating func add(_ key: String, _ value: UInt16) { fields.append((key, String(value))) }
  public mutating func add(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }
  public mutating func add(_ key: String, _ value: Double) {
    fields.append((key, value.isFinite ? String(value) : "null"))
  }
  public mutating func add(_ key: String, strings: [String]) {
    fields.append((key, "[" + strings.map(JSONLine.quote).joined(separator: ",") + "]"))
  }
  /// Adds an already-encoded JSON value (an object or array).
  public mutating func add(_ key: String, raw: String) { fields.append((key, raw)) }

  public var description: String {
    "{" + fields.map { JSONLine.quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
  }

  /// A JSON string literal for `text` (RFC 8259 escaping).
  public static func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}

extension TranscriptEntry {
  /// The entry as one JSON object: segment fields, direction, states and timestamps, and the
  /// `Explainer`'s sentence (its arithmetic quotes `ourISS` and `peerIRS` when given).
  public func json(relativeTo ourISS: UInt32? = nil, peerIRS: UInt32? = nil) -> JSONLine {
    var line = JSONLine()
    line.add("type", "segment")
    line.add("time", Double(timestampSeconds) + Double(timestampNanoseconds) / 1e9)
    let (seconds, attoseconds) = elapsed.components
    line.add("elapsed", Double(seconds) + Double(attoseconds) / 1e18)
    line.add("direction", direction.rawValue)
    line.add("summary", summary)
    line.add("src", sourceAddress.description)
    line.add("sport", sourcePort)
    line.add("dst", destinationAddress.description)
    line.add("dport", destinationPort)
    line.add("flags", flagNames)
    line.add("seq", sequenceNumber)
    line.add("ack", acknowledgmentNumber)
    line.add("win", window)
    line.add("len", payloadLength)
    line.add("state_before", stateBefore.description)
    line.add("state_after", stateAfter.description)
    line.add("peer_state", peerState)
    line.add("peer_state_before", peerStateBefore)
    if let peerTimerMilliseconds { line.add("peer_timer_ms", peerTimerMilliseconds) }
    line.add("expected", expected)
    if let note { line.add("note", note) }
    if let explanation = explanation ?? Explainer.explain(self, ourISS: ourISS, peerIRS: peerIRS) {
      line.add("explanation", explanation)
    }
    return line
  }
}
