/// Word wrapping for what is laid out in columns: the probe's terminal table and the SVG
/// ladder's captions.
public enum TextWrap {
  /// `text` broken at spaces into lines of at most `width` characters; no lines for a text
  /// without words. A word longer than a line stays whole, or with `splittingLongWords` is split
  /// over lines (never cut).
  public static func lines(_ text: String, width: Int, splittingLongWords: Bool = false) -> [String] {
    var lines: [String] = []
    var line = ""
    for whole in text.split(separator: " ", omittingEmptySubsequences: true) {
      var word = Substring(whole)
      while splittingLongWords, word.count > width, width > 0 {
        if !line.isEmpty {
          lines.append(line)
          line = ""
        }
        lines.append(String(word.prefix(width)))
        word = word.dropFirst(width)
      }
      if line.isEmpty {
        line = String(word)
      } else if line.count + 1 + word.count <= width {
        line += " " + word
      } else {
        lines.append(line)
        line = String(word)
      }
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }
}
