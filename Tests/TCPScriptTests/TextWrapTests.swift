import Testing
@testable import TCPScript

/// The one word wrapper of the probe table and the SVG ladder.
@Suite struct TextWrapTests {
  @Test func breaksAtSpacesWithinTheWidth() {
    #expect(TextWrap.lines("aa bb cc dd", width: 5) == ["aa bb", "cc dd"])
    #expect(TextWrap.lines("  aa   bb ", width: 80) == ["aa bb"])
    #expect(TextWrap.lines("", width: 10).isEmpty)
    #expect(TextWrap.lines("   ", width: 10).isEmpty)
  }

  @Test func aLongWordStaysWholeOrIsSplitNeverCut() {
    #expect(TextWrap.lines("a abcdefgh b", width: 3) == ["a", "abcdefgh", "b"])
    #expect(TextWrap.lines("a abcdefgh b", width: 3, splittingLongWords: true) == ["a", "abc", "def", "gh", "b"])
    #expect(TextWrap.lines("abcdef b", width: 4, splittingLongWords: true) == ["abcd", "ef b"])
    #expect(TextWrap.lines("abcdefgh", width: 0, splittingLongWords: true) == ["abcdefgh"])  // bounded, nothing lost
  }
}
