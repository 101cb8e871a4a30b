// The tcpdump text form: what each form parses to, precedence, errors with columns, and the
// text a value prints.
import Testing
import PacketKit
import TCPScript

@Suite("Capture filter text: parsing and printing")
struct CaptureFilterParserTests {
  static let a: IPv4Address = "10.0.0.1"
  static let b: IPv4Address = "10.0.0.2"

  static let cases: [(String, CaptureFilter)] = [
    ("", .all),
    ("tcp", .tcp),
    ("udp", .udp),
    ("icmp", .icmp),
    ("ip", .ip),
    ("host 10.0.0.1", .host(a)),
    ("src host 10.0.0.1", .host(a, .source)),
    ("dst host 10.0.0.2", .host(b, .destination)),
    ("src 10.0.0.1", .host(a, .source)),
    ("port 80", .port(80)),
    ("src port 0x50", .port(80, .source)),
    ("dst port 65535", .port(65535, .destination)),
    ("tcp port 443", .and(.tcp, .port(443))),
    ("udp dst port 53", .and(.udp, .port(53, .destination))),
    ("tcp[tcpflags] & tcp-syn != 0", .tcpFlags(.anySet(0x02))),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", .tcpFlags(.exactly(0x02, among: 0x12))),
    ("tcp[tcpflags]&(tcp-syn|tcp-ack)==(tcp-syn|tcp-ack)", .tcpFlags(.exactly(0x12, among: 0x12))),
    ("tcp[13] & 0x11 = 17", .tcpFlags(.exactly(0x11, among: 0x11))),
    ("tcp[tcpflags] == tcp-ack", .tcpFlags(.exactly(0x10))),
    ("tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", .tcpFlags(.anySet(0x05))),
    ("tcp[tcpflags] & 0x12 == tcp-syn|tcp-ack", .tcpFlags(.exactly(0x12, among: 0x12))),
    ("not tcp", .not(.tcp)),
    ("! tcp", .not(.tcp)),
    ("!tcp", .not(.tcp)),
    ("not not udp", .not(.not(.udp))),
    ("tcp and port 80", .and(.tcp, .port(80))),
    ("tcp && port 80", .and(.tcp, .port(80))),
    ("udp or icmp", .or(.udp, .icmp)),
    ("udp || icmp", .or(.udp, .icmp)),
    // tcpdump: `and` and `or` have the same precedence and group from the left.
    ("icmp or udp and port 53", .and(.or(.icmp, .udp), .port(53))),
    ("icmp or (udp and port 53)", .or(.icmp, .and(.udp, .port(53)))),
    ("not tcp and udp", .and(.not(.tcp), .udp)),
    ("not (tcp and udp)", .not(.and(.tcp, .udp))),
    // A bare value repeats the previous qualifier.
    ("host 10.0.0.1 or 10.0.0.2", .or(.host(a), .host(b))),
    ("src host 10.0.0.1 or 10.0.0.2", .or(.host(a, .source), .host(b, .source))),
    ("port 80 or 443", .or(.port(80), .port(443))),
    ("  tcp\tand ( port 80 )  ", .and(.tcp, .port(80))),
    // IPv6.
    ("ip6", .ip6),
    ("icmp6", .icmp6),
    ("ip6 and tcp port 8080", .and(.ip6, .and(.tcp, .port(8080)))),
    ("ip6 host ::1", .and(.ip6, .host6(.loopback))),
    ("src host 2001:db8::1 or 2001:DB8::2", .or(.host6("2001:db8::1", .source), .host6("2001:db8::2", .source))),
    ("dst ::ffff:127.0.0.1", .host6(IPv6Address(ipv4Mapped: "127.0.0.1"), .destination)),
  ]

  @Test(arguments: cases)
  func parses(text: String, expected: CaptureFilter) throws {
    #expect(try CaptureFilter(parsing: text) == expected)
  }

  @Test(arguments: cases)
  func printsTextThatParsesBack(text: String, value: CaptureFilter) throws {
    #expect(try CaptureFilter(parsing: value.description) == value, "\(value.description)")
  }

  @Test func printsTcpdumpText() {
    let filter: CaptureFilter =
      .tcp && .host(Self.a, .source) && !.port(22) || .tcpFlags(.exactly(0x02, among: 0x12))
    #expect(
      filter.description
        == "((tcp and src host 10.0.0.1) and not port 22) or tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn")
    #expect(CaptureFilter.tcpFlags(.anySet(0x04)).description == "tcp[tcpflags] & tcp-rst != 0")
    #expect(CaptureFilter.tcpFlags(.exactly(0x10)).description == "tcp[tcpflags] == tcp-ack")
  }

  static let errors: [(String, Int, String)] = [
    ("port", 5, "expected a port number after 'port', found the end of the filter"),
    ("port http", 6, "expected a port number after 'port', found 'http' (service names are not looked up)"),
    ("port 70000", 6, "port 70000 is out of range (0-65535)"),
    ("host example.com", 6, "expected an IPv4 address (a.b.c.d), found 'example.com' (host names are not resolved)"),
    ("host 10.0.0.256", 6, "expected an IPv4 address (a.b.c.d), found '10.0.0.256' (host names are not resolved)"),
    ("tcp and", 8, "expected a filter primitive (tcp, udp, icmp, host, port, ...), found the end of the filter"),
    ("(tcp or udp", 12, "expected ')' to close the '(' at column 1, found the end of the filter"),
    ("tcp udp", 5, "expected 'and', 'or' or the end of the filter, found 'udp'"),
    ("tcp $ udp", 5, "unexpected character '$'"),
    ("80", 1, "'80' needs a qualifier before it: 'host 80' or 'port 80'"),
    ("tcpp", 1, "unknown filter primitive 'tcpp' (expected tcp, udp, icmp, ip, host, src, dst, port, not, or '(')"),
    ("src port", 9, "expected a port number after 'port', found the end of the filter"),
    ("dst foo", 5, "expected 'host', 'port' or an address after 'dst', found 'foo'"),
    ("tcp[tcpflags] & tcp-sin != 0", 17,
     "unknown TCP flag 'tcp-sin' (expected tcp-fin, tcp-syn, tcp-rst, tcp-push, tcp-ack, tcp-urg, tcp-ece, tcp-cwr or a number)"),
    ("tcp[tcpflags] & tcp-syn", 24, "expected '==', '=' or '!=' in the TCP flag test, found the end of the filter"),
    ("tcp[14] & 2 != 0", 5, "expected 'tcpflags' or 13 inside 'tcp[...]' (other byte offsets are not supported), found '14'"),
    ("tcp[tcpflags] & 256 != 0", 17, "256 does not fit the 8-bit TCP flags byte"),
    ("tcp[tcpflags] & tcp-fin|tcp-rst != 0", 24, "put a mask of several flags in parentheses: '& (a|b)'"),
    (")", 1, "expected a filter primitive (tcp, udp, icmp, host, port, ...), found ')'"),
  ]

  @Test(arguments: errors)
  func reportsWhereAndWhat(text: String, column: Int, message: String) {
    #expect(throws: CaptureFilterError(column: column, message: message)) { try CaptureFilter(parsing: text) }
  }

  @Test func errorTextNamesTheColumn() {
    let error = CaptureFilterError(column: 6, message: "expected a port number after 'port', found 'http'")
    #expect(error.description == "filter error at column 6: expected a port number after 'port', found 'http'")
  }

  @Test func deepNestingIsAnErrorNotACrash() {
    let deep = String(repeating: "(", count: 5000) + "tcp" + String(repeating: ")", count: 5000)
    #expect(throws: CaptureFilterError.self) { try CaptureFilter(parsing: deep) }
    let nots = String(repeating: "not ", count: 5000) + "tcp"
    #expect(throws: CaptureFilterError.self) { try CaptureFilter(parsing: nots) }
  }
}
