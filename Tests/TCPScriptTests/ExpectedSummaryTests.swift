import Testing

@testable import TCPScript

/// The failure report's expected line leaves out the `win` a script line did not write.
@Suite struct ExpectedSummaryTests {
  @Test func onlyTheWindowFieldIsRemoved() {
    let line = "IP 192.168.0.1.8080 > 192.0.2.1.48123: Flags [S.], seq 5, ack 2, win 0, options [mss 1460,nop,wscale 7], length 0"
    #expect(
      ScriptMatcher.removingWindow(from: line)
        == "IP 192.168.0.1.8080 > 192.0.2.1.48123: Flags [S.], seq 5, ack 2, options [mss 1460,nop,wscale 7], length 0")
    let last = "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [R], seq 1, win 0"
    #expect(ScriptMatcher.removingWindow(from: last) == "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [R], seq 1")
    // Nothing that merely starts like the field is touched.
    let none = "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [.], ack 1, length 0"
    #expect(ScriptMatcher.removingWindow(from: none) == none)
  }
}
