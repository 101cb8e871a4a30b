import Foundation
import TestSupport
import Testing

/// Issue 11, item 7: the smaller defects, each through the real binary — as root and, where it
/// applies, as a normal user (setpriv to uid 65534).
@Suite(.serialized) struct SafetyDefectTests {
  static var isRoot: Bool { geteuid() == 0 }

  /// Bad arguments: one line on stderr, exit 2, before anything is sent (no privileges needed).
  static let badInputs: [([String], String)] = {
    let oversized = String(repeating: "00", count: 65_496)
    let longFilter = (1...3000).map { "port \($0)" }.joined(separator: " or ")
    var cases: [([String], String)] = []
    cases.append((["send", "127.0.0.1:9", "--flags", "S", "--option", "raw=:00"], "is not an option"))
    cases.append((["send", "127.0.0.1:9", "--flags", "S", "--data-offset", "16"], "not a number from 0 to 15"))
    cases.append((["send", "127.0.0.1:9", "--flags", "S", "--data-hex", oversized], "at most 65495 fit"))
    cases.append((["send", "127.0.0.1:9", "--flags", "S", "--iface", "doesnotexist", "--count", "1"], "no interface named"))
    cases.append((["sniff", "-i", "doesnotexist", "-c", "1"], "no interface named"))
    cases.append((["listen", "9999", "--iface", "doesnotexist"], "no interface named"))
    cases.append((["sniff", "--filter", longFilter], "more than 2048 terms"))
    return cases
  }()

  @Test(arguments: SafetyDefectTests.badInputs)
  func badInputExitsTwoWithOneLine(arguments: [String], expected: String) throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(arguments)
    #expect(result.status == 2, "\(arguments.prefix(6)): \(result.stderr)")
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains(expected), "\(result.stderr)")
    #expect(!result.stderr.contains("neighbour"))
    #expect(result.stdout.isEmpty)
  }

  /// The same as a normal user: the argument is judged before privileges are.
  @Test(.enabled(if: SafetyDefectTests.isRoot, "needs root to drop to nobody"))
  func badInputExitsTwoForANormalUserToo() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let copy = try SafetyTestSupport.binaryCopy(for: runner)
    defer { SafetyTestSupport.remove(copy) }
    for arguments in [
      ["send", "127.0.0.1:9", "--flags", "S", "--option", "raw=:00"],
      ["send", "127.0.0.1:9", "--flags", "S", "--data-offset", "16"],
      ["sniff", "-i", "doesnotexist", "-c", "1"],
    ] {
      let result = try runner.run(arguments, prefix: SafetyTestSupport.asNobody, binary: copy)
      #expect(result.status == 2, "\(arguments): \(result.stderr)")
      #expect(result.errorLines.count == 1)
    }
  }

  /// Control characters in echoed input are shown escaped, never sent to the terminal.
  @Test func echoedInputIsSanitized() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(["send", "127.0.0.1\u{1B}[2J\u{07}:9", "--flags", "S"])
    #expect(result.status == 2)
    #expect(!result.stderr.contains("\u{1B}"))
    #expect(!result.stderr.contains("\u{07}"))
    #expect(result.stderr.contains("\\u{1B}[2J\\u{7}"), "\(result.stderr.debugDescription)")
    let unknown = try runner.run(["bogus\u{1B}]0;title\u{07}"])
    #expect(unknown.status == 2)
    #expect(!unknown.stderr.contains("\u{1B}"))
  }

  /// A normal user without capabilities gets the capability message once, never
  /// "tcpcraft: tcpcraft needs".
  @Test(.enabled(if: SafetyDefectTests.isRoot, "needs root to drop to nobody"))
  func theCapabilityMessageIsNotPrefixedTwice() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let copy = try SafetyTestSupport.binaryCopy(for: runner)
    defer { SafetyTestSupport.remove(copy) }
    for arguments in [
      ["sniff", "--ring", "-c", "1"], ["send", "127.0.0.1:9", "--flags", "S", "--count", "2"], ["listen", "9999"],
      ["sniff", "-c", "1"],
    ] {
      let result = try runner.run(arguments, prefix: SafetyTestSupport.asNobody, binary: copy)
      #expect(result.status == 1, "\(arguments): \(result.stderr)")
      #expect(result.errorLines.count == 1)
      #expect(result.stderr.contains("CAP_NET_RAW"))
      #expect(!result.stderr.contains("tcpcraft: tcpcraft"), "\(result.stderr)")
    }
  }

  /// `listen 0.0.0.0:PORT` says the kernel's RSTs are guarded: they are (a kernel client
  /// completes its connection instead of being refused by the kernel's RST), and the listener
  /// answers from the address the client asked for.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func listenOnTheWildcardAddressReallyGuards() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = try closedPort()
    let listen = try runner.start(["listen", "0.0.0.0:\(port)", "--timeout", "5", "--data", "hi", "--json"])
    #expect(waitUntil(seconds: 5) { CommandRunner.shell(["nft", "list", "tables"]).contains("tcpcraft_\(listen.process.processIdentifier)_") })
    let reply = Client.exchange(port: port, send: "")
    let result = listen.finish(timeout: 10)
    #expect(reply == Array("hi".utf8), "the kernel client got \(String(describing: reply))")
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("\"local\":\"127.0.0.1:\(port)\""), "\(result.stdout)")
  }
}
