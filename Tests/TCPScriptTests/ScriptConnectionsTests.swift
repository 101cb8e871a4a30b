import Foundation
import Testing
import TestSupport
@testable import TCPScript

/// Several connections in one script: a SYN that an older socket retransmits is not taken for the
/// new socket's, and tcp_info comes from the socket opened last.
@Suite(.serialized) struct ScriptConnectionsTests {
  func run(_ text: String) -> ScriptResult { ScriptRunTests.run(text) }

  @Test(
    "An older socket's retransmitted SYN is ignored while the new socket's SYN is expected",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func olderSocketsSYNIsIgnored() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    // Socket 3's SYN is never answered: it retransmits it after its 1 s RTO, just before socket 4
    // connects; the line after that is about socket 4's SYN.
    let result = run("""
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
      +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
      +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
      +0 > S 0:0(0) <...>
      +1.3 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
      +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
      +0 connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)
      +0 > S 0:0(0) <...>
      +0 < S. 0:0(0) ack 1 win 1000 <mss 1000>
      +0 > . 1:1(0) ack 1
      +0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0

      """)
    #expect(result.status == .passed, "\(result.reason ?? "")")
    let ignored = result.transcript.filter { $0.note == .otherConnection && $0.text.hasSuffix("(another connection: ignored)") }
    #expect(ignored.contains { $0.text.contains("Flags [S]") }, "\(result.transcript.map(\.text))")
  }

  @Test(
    "A %{ }% block reads tcp_info from the socket opened last, not the highest number",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin) && Privileges.haveTool("python3"), "needs root and python3"))
  func tcpInfoFromLatestSocket() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    var options = ScriptRunOptions()
    options.toleranceMicroseconds = 200_000
    options.python = Privileges.toolPath("python3")
    // Socket 5 listens (LISTEN is 10), socket 4 is opened after it and stays CLOSE (7).
    let text = """
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 5
      +0 bind(5, ..., ...) = 0
      +0 listen(5, 1) = 0
      +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
      +0 %{ assert tcpi_state == 7, tcpi_state }%

      """
    let result = ScriptRunner.run(text: text, path: "inline.pkt", directory: ScriptRunTests.examples, options: options)
    #expect(result.status == .passed, "\(result.reason ?? "")")
  }
}
