import Foundation
import TestSupport
import Testing

/// `send --option` with the options tcpdump prints by name: the SYN really crosses loopback (a
/// `sniff -w` captures it there) and tcpdump reads those options from the captured bytes.
@Suite(.serialized) struct SendOptionTests {
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func craftedOptionsCrossLoopbackAsTcpdumpReadsThem() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    // A port of our own (pid-derived) keeps parallel runs' SYNs apart; nothing listens on it.
    let port = 20_000 + Int(getpid() % 20_000)
    let pcap = TemporaryFiles.path("send-options.pcap")
    defer { try? FileManager.default.removeItem(atPath: pcap) }
    let sniff = try runner.start([
      "sniff", "-i", "lo", "-c", "1", "--timeout", "10", "-w", pcap,
      "tcp", "dst", "port", String(port), "and", "tcp[tcpflags]", "&", "tcp-syn", "!=", "0",
    ])
    #expect(sniff.waitUntilCapturing())
    let options = [
      "md5=00112233445566778899aabbccddeeff", "uto=5m", "ao=3:7", "tfo-exp", "mptcp=0081",
    ]
    let send = try runner.run(["send", "127.0.0.1:\(port)", "--flags", "S", "--seq", "5000"] + options.flatMap { ["--option", $0] })
    #expect(send.status == 0, "stderr: \(send.stderr)")
    let captured = sniff.finish(timeout: 15)
    #expect(captured.status == 0, "stderr: \(captured.stderr)")
    let line = CommandRunner.shell(["tcpdump", "-nn", "-S", "-t", "-r", pcap])
    #expect(line.contains("Flags [S], seq 5000, win 65535, options [md5 shared secret not supplied with -M, can't check - 00112233445566778899aabbccddeeff,uto 0x8005 983160,tcp-ao keyid 3 rnextkeyid 7,exp-tfo cookiereq,mptcp 4 capable v0 csum,eol], length 0"), "tcpdump: \(line)")
    // Our own line for what we sent says the same.
    #expect(send.stdout.contains("options [md5 shared secret not supplied with -M, can't check - 00112233445566778899aabbccddeeff,uto 0x8005 983160,tcp-ao keyid 3 rnextkeyid 7,exp-tfo cookiereq,mptcp 4 capable v0 csum,eol]"), "\(send.stdout)")
  }

  /// Kernel fact 17: a closed port answers a SYN with RST, but not one signed with TCP-MD5.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func aClosedPortResetsAFastOpenSYNButNotAnMD5SignedOne() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = String(20_000 + Int(getpid() % 20_000) + 1)
    let plain = try runner.run(["send", "127.0.0.1:\(port)", "--flags", "S", "--option", "tfo", "--expect", "R.", "--timeout", "2"])
    #expect(plain.status == 0, "stderr: \(plain.stderr)")
    let signed = try runner.run([
      "send", "127.0.0.1:\(port)", "--flags", "S", "--option", "md5=00112233445566778899aabbccddeeff", "--expect", "R.",
      "--timeout", "1",
    ])
    #expect(signed.status == 1, "stdout: \(signed.stdout)")
    #expect(signed.stderr.contains("no reply"), "stderr: \(signed.stderr)")
  }

  @Test(arguments: [
    ["--option", "md5=0011"], ["--option", "uto=99999"], ["--option", "ao=1"], ["--option", "tfo=xyz"],
    ["--option", "mptcp"], ["--option", "nosuch"],
  ])
  func badOptionsGetOneLineAndStatus2(_ arguments: [String]) throws {
    let result = try CommandRunner().run(["send", "127.0.0.1:9", "--flags", "S"] + arguments)
    #expect(result.status == 2)
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains("--option: \"\(arguments[1])\""))
  }
}
