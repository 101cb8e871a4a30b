import PacketKit
import Testing
@testable import tcpcraft

/// Argument parsing against a command's option table: typed values, checked once; every bad input is a
/// `UsageError` (one line, exit 2), never a trap.
@Suite struct ArgumentTests {
  /// A small table exercising every kind.
  static let spec = CommandSpec(
    name: "t", summary: "a test command", synopsis: ["[options]"], about: "Tests.",
    options: [
      OptionGroup([
        .integer("--sport", UInt16.self, "N", "a port"),
        .integer("--isn", UInt32.self, "N", "a sequence number"),
        .integer("--scale", UInt8.self, range: 0...14, "N", "a shift count"),
        .integer("--checksum", UInt16.self, hexOnly: true, "HEX", "a checksum"),
        .seconds("--timeout", "a wait"),
        .seconds("--delay", zeroAllowed: true, "a delay"),
        .string("--iface", aliases: ["-i"], "NAME", "an interface"),
        .repeatable("--option", "OPT", "an option"),
        .toggle("--json", "JSON lines"),
      ])
    ],
    examples: ["t --json"])

  @Test func typedValuesInBothSpellingsAndAliases() throws {
    let arguments = try Arguments(
      ["127.0.0.1:80", "--sport", "57273", "--isn=84347051", "--json", "--option", "nop", "--option", "mss=1", "-i", "lo",
       "--checksum", "dead", "--timeout", "0.5", "--delay=0"],
      spec: Self.spec)
    #expect(arguments.positionals == ["127.0.0.1:80"])
    #expect(arguments.integer("--sport", as: UInt16.self) == 57273)
    #expect(arguments.integer("--isn", as: UInt32.self) == 84_347_051)
    #expect(arguments.integer("--checksum", as: UInt16.self) == 0xDEAD)
    #expect(arguments.seconds("--timeout") == .milliseconds(500))
    #expect(arguments.seconds("--delay") == .zero)
    #expect(arguments.has("--json"))
    #expect(!arguments.has("--scale"))
    #expect(arguments.integer("--scale", as: UInt8.self) == nil)
    #expect(arguments.all("--option") == ["nop", "mss=1"])
    // The alias and the name read the same value.
    #expect(arguments.value("--iface") == "lo")
    #expect(arguments.value("-i") == "lo")
    // Asking for a kind the option is not gives nothing, never a wrong value.
    #expect(arguments.value("--sport") == nil)
    #expect(arguments.seconds("--sport") == nil)
  }

  @Test func everythingAfterDoubleDashIsPositional() throws {
    let arguments = try Arguments(["--json", "--", "--sport", "-x"], spec: Self.spec)
    #expect(arguments.positionals == ["--sport", "-x"])
    #expect(arguments.has("--json"))
    #expect(try Arguments(["-h"], spec: Self.spec).wantsHelp)
  }

  @Test(arguments: [
    (["--sport"], "t: --sport needs a value (see `tcpcraft t --help`)"),
    (["--nope"], "t: unknown option --nope (see `tcpcraft t --help`)"),
    (["--json=1"], "t: --json takes no value"),
    (["--scale", "15"], "--scale: \"15\" is not a number from 0 to 14"),
    (["--sport", "65536"], "--sport: \"65536\" is not a number from 0 to 65535"),
    (["--checksum", "zz"], "--checksum: \"zz\" is not a hex number from 0x0 to 0xffff (like 0xdead)"),
    (["--timeout", "0"], "--timeout: \"0\" is not a number of seconds (like 2 or 0.5)"),
    (["--delay", "-1"], "--delay: \"-1\" is not a number of seconds (like 2 or 0.5)"),
  ])
  func badOptionsThrowOneLine(argv: [String], message: String) {
    #expect {
      try Arguments(argv, spec: Self.spec)
    } throws: { error in
      (error as? UsageError)?.description == message
    }
  }

  @Test(arguments: ["-1", "65536", "0x", "0x10000", "1e3", " 1", "", "٣"])
  func portsOutOfRangeThrow(text: String) {
    #expect(throws: UsageError.self) { try Arguments(["--sport", text], spec: Self.spec) }
  }

  @Test func numbersInHexAndDecimal() {
    #expect(Arguments.parseInteger("0xdead", as: UInt16.self) == 0xDEAD)
    #expect(Arguments.parseInteger("4294967295", as: UInt32.self) == UInt32.max)
    #expect(Arguments.parseInteger("4294967296", as: UInt32.self) == nil)
    #expect(Arguments.parseSeconds("0.5") == .milliseconds(500))
    #expect(Arguments.parseSeconds("0") == nil)
    #expect(Arguments.parseSeconds("-1") == nil)
    #expect(Arguments.parseSeconds("nan") == nil)
    #expect(Arguments.parseSeconds("1.2.3") == nil)
  }

  @Test(arguments: [
    ("127.0.0.1", UInt32(0x7F00_0001)), ("10.0.0.255", 0x0A00_00FF), ("localhost", 0x7F00_0001),
    ("0.0.0.0", 0),
  ])
  func addressesParse(text: String, value: UInt32) {
    #expect(HostPort.address(text)?.rawValue == value)
    if text != "localhost" { #expect(IPv4Address(rawValue: value).description == text) }
  }

  @Test(arguments: ["256.0.0.1", "1.2.3", "1.2.3.4.5", "a.b.c.d", "1..2.3", "+1.2.3.4", "", "01234.1.1.1"])
  func badAddressesDoNotParse(text: String) {
    #expect(HostPort.address(text) == nil)
  }

  @Test func hostPort() throws {
    #expect(try HostPort.parse("127.0.0.1:8080") == HostPort(address: .loopback, port: 8080))
    #expect(try HostPort.parse("localhost:1") == HostPort(address: .loopback, port: 1))
    #expect(try HostPort.parse("9000", defaultHost: .loopback) == HostPort(address: .loopback, port: 9000))
    for bad in ["127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0", "127.0.0.1:65536", "host:80", "1.2.3.4:80:90"] {
      #expect(throws: UsageError.self, "\(bad)") { try HostPort.parse(bad) }
    }
  }

  @Test func flags() throws {
    #expect(try SendCommand.parseFlags("S", option: "--flags") == .syn)
    #expect(try SendCommand.parseFlags("S.", option: "--flags") == [.syn, .ack])
    #expect(try SendCommand.parseFlags("FA", option: "--flags") == [.fin, .ack])
    #expect(try SendCommand.parseFlags("none", option: "--flags") == [])
    #expect(throws: UsageError.self) { try SendCommand.parseFlags("Q", option: "--flags") }
  }

  @Test func tcpOptions() throws {
    #expect(try SendCommand.parseOption("mss=1460") == .maximumSegmentSize(1460))
    #expect(try SendCommand.parseOption("wscale=14") == .windowScale(14))
    #expect(try SendCommand.parseOption("sackok") == .sackPermitted)
    #expect(try SendCommand.parseOption("ts=1:2") == .timestamps(value: 1, echoReply: 2))
    #expect(try SendCommand.parseOption("raw=254:02f989") == .raw(kind: 254, bytes: [0x02, 0xF9, 0x89]))
    #expect(try SendCommand.parseOption("raw=30") == .raw(kind: 30, bytes: []))
    for bad in ["mss", "mss=70000", "ts=1", "raw=300:00", "raw=1:0", "bogus"] {
      #expect(throws: UsageError.self, "\(bad)") { try SendCommand.parseOption(bad) }
    }
  }

  @Test func hex() throws {
    #expect(try SendCommand.parseHex("48 65:6c 6c6f", option: "--data-hex") == Array("Hello".utf8))
    #expect(try SendCommand.parseHex("0xff00", option: "--data-hex") == [0xFF, 0x00])
    #expect(throws: UsageError.self) { try SendCommand.parseHex("abc", option: "--data-hex") }
    #expect(throws: UsageError.self) { try SendCommand.parseHex("zz", option: "--data-hex") }
  }

  @Test func synOptionsInTheClassicOrder() throws {
    let arguments = try Arguments(
      ["--mss", "16344", "--wscale", "5", "--tsval", "1525310591", "--sack-perm"], spec: HandshakeCommand.spec)
    let options = Common.synOptions(arguments)
    #expect(
      options == [
        .maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
        .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList,
      ])
  }

  @Test func sessionRoundTripsThroughJSON() throws {
    let session = Session(
      localAddress: "127.0.0.1", localPort: 57273, remoteAddress: "127.0.0.1", remotePort: 8080,
      interface: "lo", state: "ESTABLISHED", initialSendSequence: 84_347_051, sendNext: 84_347_052,
      initialReceiveSequence: 2_958_367_133, receiveNext: 2_958_367_134, holderPID: 0, holdSeconds: 300,
      createdAt: 1, updatedAt: 2)
    #expect(session.fileName == "127.0.0.1_8080_57273.json")
    #expect(session.local?.port == 57273)
    #expect(session.remote?.address == .v4(.loopback))
  }
}
