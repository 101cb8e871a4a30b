import PacketKit
import Testing
@testable import TCPScript

/// The packetdrill-language parser: every construct we support, and errors with their positions.
@Suite struct ScriptParserTests {
  func parse(_ text: String, defines: [String: String] = [:]) throws -> Script {
    try ScriptParser.parse(text, file: "t.pkt", defines: defines)
  }

  func firstEvent(_ text: String) throws -> ScriptEvent {
    let script = try parse(text)
    return try #require(script.events.first)
  }

  func parseError(_ text: String) -> ScriptParseError? { scriptParseError(text, file: "t.pkt") }

  // MARK: Times

  @Test("Times: absolute, relative, any, ranges (relative end counts from a relative start)")
  func times() throws {
    let script = try parse(
      """
      0 close(3) = 0
      +.1 close(3) = 0
      0.250 close(3) = 0
      * close(3) = 0
      +0...0.100 read(4, ..., 10) = 10
      0.5...0.700 read(4, ..., 10) = 10
      +.002 ... 0.004 connect(4, ..., ...) = 0
      """)
    let times = script.events.map(\.time)
    #expect(times[0] == ScriptTime(kind: .absolute, microseconds: 0))
    #expect(times[1] == ScriptTime(kind: .relative, microseconds: 100_000))
    #expect(times[2] == ScriptTime(kind: .absolute, microseconds: 250_000))
    #expect(times[3].kind == .any)
    #expect(times[4] == ScriptTime(kind: .relative, microseconds: 0, end: 100_000, endIsRelative: true))
    #expect(times[5] == ScriptTime(kind: .absolute, microseconds: 500_000, end: 700_000, endIsRelative: false))
    #expect(times[6] == ScriptTime(kind: .relative, microseconds: 2_000, end: 4_000, endIsRelative: true))
  }

  @Test("Packet ranges start~end: a relative range's two ends share one anchor (end stored from the start)")
  func tildeRanges() throws {
    let script = try parse("+.3~+.400 > F. 1:1(0) ack 1\n1.5~1.750 > F. 1:1(0) ack 1\n")
    #expect(script.events[0].time == ScriptTime(kind: .relative, microseconds: 300_000, end: 100_000, endIsRelative: true))
    #expect(script.events[1].time == ScriptTime(kind: .absolute, microseconds: 1_500_000, end: 1_750_000, endIsRelative: false))
  }

  // MARK: Packets

  @Test("Inbound SYN with window and every option kind")
  func inboundOptions() throws {
    let event = try firstEvent(
      "+0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7,eol,sack 1:2 3:4,FO abcd,FOEXP,md5 0>")
    guard case .packet(let packet) = event.action else { Issue.record("not a packet"); return }
    #expect(packet.inbound)
    #expect(packet.flags == .syn)
    #expect(packet.window == 32792)
    #expect(packet.options == .some([
      .maximumSegmentSize(1000), .sackPermitted, .timestamps(value: 100, echoReply: 0), .noOperation,
      .windowScale(7), .endOfOptionList,
      .sack([SACKBlock(leftEdge: 1, rightEdge: 2), SACKBlock(leftEdge: 3, rightEdge: 4)]),
      .fastOpen(cookie: [0xAB, 0xCD], experimental: false), .fastOpen(cookie: [], experimental: true), .md5,
    ]))
  }

  @Test("Outbound: flags, seq range, ack, any options <...>, ECN mark, urg, no options")
  func outbound() throws {
    let script = try parse(
      """
      +0 > P. 1:1001(1000) ack 1 <...>
      +0 > [ect0] SEW 0:0(0) win 100 urg 7
      +0 > F. 1001:1001(0) ack 2
      +0 < - 1:1001(1000) win 20000
      """)
    guard case .packet(let data) = script.events[0].action, case .packet(let ecn) = script.events[1].action,
      case .packet(let fin) = script.events[2].action, case .packet(let bare) = script.events[3].action
    else { Issue.record("not packets"); return }
    #expect(!data.inbound)
    #expect(data.flags == [.psh, .ack])
    #expect(data.sequenceStart == 1 && data.sequenceEnd == 1001 && data.length == 1000)
    #expect(data.acknowledgment == 1)
    #expect(data.options == .some(nil))  // <...>: any options
    #expect(ecn.ecn == .ect0)
    #expect(ecn.flags == [.syn, .ece, .cwr])
    #expect(ecn.window == 100 && ecn.urgentPointer == 7)
    #expect(fin.flags == [.fin, .ack])
    #expect(fin.options == nil)  // none written: none allowed
    #expect(bare.flags == [])
  }

  @Test("Defines replace option values (FO TFO_COOKIE) and numbers")
  func defines() throws {
    let script = try parse(
      "+0 < S. 0:0(0) ack 1 win WIN <FO TFO_COOKIE>\n+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [SIZE], 4) = 0",
      defines: ["TFO_COOKIE": "3021b9d889017eeb", "WIN": "5840", "SIZE": "4096"])
    guard case .packet(let packet) = script.events[0].action, case .syscall(let call) = script.events[1].action else {
      Issue.record("wrong actions"); return
    }
    #expect(packet.window == 5840)
    #expect(packet.options == .some([.fastOpen(cookie: [0x30, 0x21, 0xb9, 0xd8, 0x89, 0x01, 0x7e, 0xeb], experimental: false)]))
    #expect(call.arguments[3] == .list([.integer(4096)]))
  }

  // MARK: System calls

  @Test("System calls: ellipsis, symbols, |, lists, structs, strings, calls, errno and note")
  func syscalls() throws {
    let script = try parse(
      """
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
      +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
      +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0
      +0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
      +0 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1
      +0 sendmsg(3, {msg_name(...)=...,
                     msg_iov(2)=[{..., 10}, {..., 20}], msg_flags=0}, 0) = 30
      +0 getsockopt(3, SOL_TCP, TCP_CONGESTION, "cubic", [5]) = 0
      +0 read(3, ..., 1000) = ...
      """)
    let calls = script.events.compactMap { event -> ScriptSyscall? in
      if case .syscall(let call) = event.action { return call }
      return nil
    }
    #expect(calls.count == 8)
    #expect(calls[0].arguments == [.ellipsis, .symbol("SOCK_STREAM"), .symbol("IPPROTO_TCP")])
    #expect(calls[0].result == .integer(3))
    #expect(calls[1].arguments[2] == .bitwiseOr(.symbol("O_RDWR"), .symbol("O_NONBLOCK")))
    #expect(calls[2].arguments[3] == .structure([
      ScriptField(name: "l_onoff", value: .integer(1)), ScriptField(name: "l_linger", value: .integer(0)),
    ]))
    #expect(calls[3].result == .integer(-1))
    #expect(calls[3].errnoName == "EINPROGRESS")
    #expect(calls[3].note == "Operation now in progress")
    #expect(calls[3].arguments[1] == .structure([
      ScriptField(name: "sa_family", value: .symbol("AF_INET")),
      ScriptField(name: "sin_port", value: .call("htons", [.integer(8080)])),
      ScriptField(name: "sin_addr", value: .call("inet_addr", [.string("192.0.2.1")])),
    ]))
    #expect(calls[4].arguments[0] == .list([.structure([
      ScriptField(name: "fd", value: .integer(3)), ScriptField(name: "events", value: .symbol("POLLOUT")),
      ScriptField(name: "revents", value: .symbol("POLLOUT")),
    ])]))
    // A multi-line msghdr with positional iovec members.
    guard case .structure(let message) = calls[5].arguments[1] else { Issue.record("no msghdr"); return }
    #expect(message.map(\.name) == ["msg_name", "msg_iov", "msg_flags"])
    #expect(message[1].value == .list([
      .structure([ScriptField(name: "", value: .ellipsis), ScriptField(name: "", value: .integer(10))]),
      .structure([ScriptField(name: "", value: .ellipsis), ScriptField(name: "", value: .integer(20))]),
    ]))
    #expect(calls[6].arguments[3] == .string("cubic"))
    #expect(calls[7].result == .ellipsis)
  }

  // MARK: Commands, python, options, comments

  @Test("Backtick commands (multi-line), %{ }% blocks, --options, comments")
  func blocks() throws {
    let script = try parse(
      """
      // a comment
      --tolerance_usecs=10000
      --strict_segments
      /* a block
         comment */
      `../common/defaults.sh
       sysctl -q net.ipv4.tcp_sack=0`
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing comment
      +0 %{ assert tcpi_snd_cwnd == 10 }%
      """)
    #expect(script.options == ["tolerance_usecs": "10000", "strict_segments": ""])
    #expect(script.events.count == 3)
    #expect(script.events[0].action == .shell("../common/defaults.sh\n sysctl -q net.ipv4.tcp_sack=0"))
    #expect(script.events[0].location.line == 6)
    #expect(script.events[2].action == .python(" assert tcpi_snd_cwnd == 10 "))
    #expect(script.events[1].text == "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing comment")
  }

  @Test("ICMP quoting raw packets and ipv4/ipv6/gre/mpls prefixes parse as unsupported (NOT RUN, never passed)")
  func unsupported() throws {
    for text in ["+0 < icmp unreachable [raw(10)]", "+0 < ipv4 1.2.3.4 > 5.6.7.8: udp (10)", "+0 > gre: S 0:0(0)"] {
      let event = try firstEvent(text)
      guard case .unsupported(let reason) = event.action else { Issue.record("expected unsupported: \(text)"); continue }
      #expect(reason.contains("not supported yet"))
    }
  }

  @Test("Inbound ICMP lines: type, code (names, code_N, -D defines), mtu, quoted segment")
  func icmp() throws {
    #expect(try firstEvent("+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]").action
      == .icmp(ScriptICMP(type: 3, code: 4, mtu: 1200, quotedStart: 1, quotedLength: 1460)))
    #expect(try firstEvent("+0 < icmp unreachable").action == .icmp(ScriptICMP(type: 3)))
    #expect(try firstEvent("+0 < icmp time_exceeded code_1 [5000:6000(1000)]").action
      == .icmp(ScriptICMP(type: 11, code: 1, quotedStart: 5000, quotedLength: 1000)))
    #expect(try firstEvent("+0 < icmp type_42 id 7").action == .icmp(ScriptICMP(type: 42, identifier: 7)))
    let defined = try ScriptParser.parse("+0 < icmp unreachable CODE [0:10(10)]", file: "t.pkt", defines: ["CODE": "host_unreachable"])
    #expect(defined.events.first?.action == .icmp(ScriptICMP(type: 3, code: 1, quotedLength: 10)))
    // Errors say what was expected.
    #expect(parseError("+0 < icmp bogus")?.message.contains("expected an ICMP type") == true)
    #expect(parseError("+0 < icmp unreachable bogus")?.message.contains("expected an ICMP code") == true)
    #expect(parseError("+0 < icmp unreachable host_unreachable mtu 1000")?.message.contains("frag_needed") == true)
    #expect(parseError("+0 < icmp unreachable [0:10(11)]")?.message.contains("end - start") == true)
  }

  // MARK: Errors, with positions

  @Test(
    "Errors name the line, the column and what was expected",
    arguments: [
      ("0 socket(..., SOCK_STREAM", 1, 26, "expected \",\" or \")\""),
      ("+0 > S 0:0(1)", 1, 12, "expected a length equal to end - start (0), found 1"),
      ("+0 > S 0:0(0) ack", 1, 18, "expected an acknowledgment number"),
      ("+0 > S 0;0(0)", 1, 9, "expected \":\" in start:end(length)"),
      ("+0 > Q 0:0(0)", 1, 6, "expected TCP flags"),
      ("\n\n  +0 < S 0:0(0) win 100 <mss 1000,bogus 3>", 3, 35, "expected a TCP option"),
      ("+0 < S 0:0(0) win 70000", 1, 19, "expected a window (0...65535)"),
      ("hello", 1, 1, "expected a time"),
      ("+0 close(3)", 1, 12, "expected \"=\" and the expected result"),
      ("`echo unterminated", 1, 1, "expected closing backtick"),
      ("+0 %{ print(1)", 1, 4, "\"}%\" closing the python block"),
      ("+0 close(3) = -1 EBADF (x) junk", 1, 28, "expected the end of the line"),
      ("+0 < [ect2] S 0:0(0) win 1", 1, 7, "expected an ECN mark"),
    ] as [(String, Int, Int, String)])
  func errors(text: String, line: Int, column: Int, message: String) throws {
    try expectScriptParseError(text, file: "t.pkt", line: line, column: column, message: message)
  }

  @Test("Garbage never traps the parser", arguments: 0..<64)
  func garbage(seed: Int) {
    var generator = SplitMix64(seed: UInt64(seed))
    let alphabet = Array("0123456789+.*<>SPF.:() ,[]{}=|`%\"\n-_abcxyzwin ack mss".utf8)
    let bytes = (0..<200).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
    _ = try? ScriptParser.parse(String(decoding: bytes, as: UTF8.self), file: "g.pkt")
  }
}

/// The error parsing `text` (as `file`) throws; `nil` when it parses. Shared by the parser suites.
func scriptParseError(_ text: String, file: String) -> ScriptParseError? {
  do {
    _ = try ScriptParser.parse(text, file: file)
    return nil
  } catch {
    return error
  }
}

/// Expects `text` (parsed as `file`) to fail at `line`:`column` with a message containing
/// `message`, and the error's text to start with `file:line:column: `.
func expectScriptParseError(
  _ text: String, file: String, line: Int, column: Int, message: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let error = try #require(scriptParseError(text, file: file), sourceLocation: sourceLocation)
  #expect(error.location.line == line, "\(error)", sourceLocation: sourceLocation)
  #expect(error.location.column == column, "\(error)", sourceLocation: sourceLocation)
  #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
  #expect(error.description.hasPrefix("\(file):\(line):\(column): "), "\(error)", sourceLocation: sourceLocation)
}
