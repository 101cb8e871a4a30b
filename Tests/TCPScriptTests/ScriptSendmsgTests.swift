import Foundation
import Testing
import TestSupport
@testable import TCPScript

/// `sendmsg` as a program makes it: the script's iovecs are separate buffers, so MSG_ZEROCOPY pins
/// one page fragment per iovec and a segment ends when its skb has no fragment left
/// (net.core.max_skb_frags, 17 by default); copied, the same iovecs are one linear run of bytes.
@Suite(.serialized) struct ScriptSendmsgTests {
  func run(_ text: String) -> ScriptResult { ScriptRunTests.run(text) }

  /// A msghdr of `count` iovecs of `length` bytes each, written out as a script would.
  static func message(_ count: Int, of length: Int) -> String {
    let vectors = Array(repeating: "{..., \(length)}", count: count).joined(separator: ", ")
    return "{msg_name(...)=..., msg_iov(\(count))=[\(vectors)], msg_flags=0}"
  }

  static let established = """
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
    +0 setsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0
    +0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [4000000], 4) = 0
    +0 bind(3, ..., ...) = 0
    +0 listen(3, 1) = 0
    +0 < S 0:0(0) win 30000 <mss 1000>
    +0 > S. 0:0(0) ack 1 <...>
    +0 < . 1:1(0) ack 1 win 30000
    +0 accept(3, ..., ...) = 4

    """

  @Test(
    "MSG_ZEROCOPY: each iovec is a page fragment of its own, so 20 iovecs make a segment of 17 and one of 3",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func zerocopyFragmentPerIovec() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    // Copied, the 40 bytes are one segment. With MSG_ZEROCOPY the 20 two-byte iovecs are 20
    // fragments: 17 fill the first skb (34 bytes, pushed when it is full), the other 3 (6 bytes)
    // follow once that segment is acknowledged (Nagle). One merged buffer would be one fragment
    // and one 40-byte segment: the line checking 41:75(34) would fail.
    let result = run(Self.established + """
      +0 sendmsg(4, \(Self.message(20, of: 2)), 0) = 40
      +0 > P. 1:41(40) ack 1
      +0 < . 1:1(0) ack 41 win 30000
      +.1 sendmsg(4, \(Self.message(20, of: 2)), MSG_ZEROCOPY) = 40
      +0 > P. 41:75(34) ack 1
      +0 < . 1:1(0) ack 75 win 30000
      +0 > P. 75:81(6) ack 1
      +0 < . 1:1(0) ack 81 win 30000

      """)
    #expect(result.status == .passed, "\(result.reason ?? "") \(result.failure.map { "\($0)" } ?? "")")
  }

  @Test(
    "sendmsg iovecs of more than 64 MiB in all are refused at their line, before anything is allocated",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func iovecTotalIsBounded() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    func script(_ length: Int) -> String {
      """
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
      +0 sendmsg(3, \(Self.message(3, of: length)), MSG_NOSIGNAL) = -1 EPIPE (Broken pipe)

      """
    }
    // Small iovecs reach the kernel: an unconnected socket answers EPIPE, as the line says.
    let small = run(script(1000))
    #expect(small.status == .passed, "\(small.reason ?? "")")
    // Each iovec is within the 64 MiB bound of one buffer; together they are not. Without the
    // bound the runner allocated them all and the kernel's EPIPE made the line pass.
    let result = run(script(30_000_000))
    #expect(result.status == .failed)
    #expect(result.failure?.location.line == 2, "\(result.reason ?? "")")
    #expect(result.reason?.contains("at most 67108864 in all") == true, "\(result.reason ?? "")")
  }
}
