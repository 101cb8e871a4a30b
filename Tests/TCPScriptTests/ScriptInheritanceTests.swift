import Foundation
import Glibc
import RawSocket
import Synchronization
import Testing
import TestSupport
@testable import TCPScript

/// A backtick command or a `%{ }%` block is a child process; it must not inherit the sockets of
/// the process that spawned it. With `--parallel N` one tcpcraft process plays several scripts:
/// a command of one script kept another script's socket open after that script's `close()`, so
/// the kernel sent the FIN (or RST) only when the command ended ("expected packet did not
/// arrive" for a `+0 > F.` line after `close`, a miss of folder runs only).
@Suite(.serialized) struct ScriptInheritanceTests {
  @Test("A command inherits stdin, stdout and stderr, none of our other descriptors")
  func commandInheritsNoSockets() throws {
    // A socket without close-on-exec, as a script's are (it may check F_GETFD).
    let fd = try #require(try? ScriptSockets.socket(domain: AF_INET, type: Int32(SOCK_STREAM.rawValue), protocol: 0).get())
    defer { _ = ScriptSockets.close(Int32(fd)) }
    #expect(fcntl(Int32(fd), F_GETFD) & FD_CLOEXEC == 0)
    // `ls` lists what it inherited from the shell (and the folder it reads).
    let outcome = try ScriptShell.shell(
      "ls -l /proc/self/fd/", directory: "/", environment: ["PATH=/usr/bin:/bin"], timeoutMilliseconds: 10_000)
    #expect(outcome.status == 0, "\(outcome.output)")
    // The listing is there (stdin is /dev/null): the command did run.
    #expect(outcome.output.contains("0 -> /dev/null"), "\(outcome.output)")
    #expect(!outcome.output.contains("socket:"), "\(outcome.output)")
    // 0 to 2, and 3: the folder `ls` opened itself.
    let numbers = outcome.output.split(separator: "\n").compactMap { line in
      line.range(of: " -> ").flatMap { Int(line[..<$0.lowerBound].split(separator: " ").last ?? "") }
    }
    #expect(numbers.count >= 3 && numbers.allSatisfy { $0 <= 3 }, "\(outcome.output)")
  }

  @Test(
    "Two scripts at once: one's command does not keep the other's socket open past its close()",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func parallelCommandDoesNotDelayFIN() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let options: ScriptRunOptions = {
      var options = ScriptRunOptions()
      options.toleranceMicroseconds = 200_000
      return options
    }()
    // The closer has its connection from 0 s to 0.8 s; the sleeper's command starts at 0.3 s
    // and lasts 1.5 s (the two runs start within a few tens of ms of each other). Had the command inherited the closer's socket, its FIN would leave when
    // the sleep ended, over a second late.
    let closer = ScriptRunTests.listen + """
      +0 < S 0:0(0) win 1000 <mss 1000>
      +0 > S. 0:0(0) ack 1 <...>
      +0 < . 1:1(0) ack 1 win 1000
      +0 accept(3, ..., ...) = 4
      +.8 close(4) = 0
      +0 > F. 1:1(0) ack 1

      """
    let sleeper = "0.3 `sleep 1.5`\n"
    let results = Mutex<[String: ScriptResult]>([:])
    let group = DispatchGroup()
    for (name, text) in [("closer", closer), ("sleeper", sleeper)] {
      group.enter()
      let thread = Thread {
        let result = ScriptRunner.run(text: text, path: name + ".pkt", directory: ScriptRunTests.examples, options: options)
        results.withLock { $0[name] = result }
        group.leave()
      }
      thread.start()
    }
    #expect(group.wait(timeout: .now() + 60) == .success)
    let all = results.withLock { $0 }
    #expect(all["sleeper"]?.status == .passed, "\(all["sleeper"]?.reason ?? "")")
    #expect(all["closer"]?.status == .passed, "\(all["closer"]?.reason ?? "")")
  }
}
