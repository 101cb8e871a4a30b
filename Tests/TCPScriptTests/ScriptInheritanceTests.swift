import Foundation
import Glibc
import RawSocket
import Testing
@testable import TCPScript

/// A backtick command or a `%{ }%` block is a child process; it must not inherit the sockets of
/// the process that spawned it (kernel fact 32). The end-to-end case, two scripts at once, is
/// `ScriptParallelDescriptorTests`; this one needs no privileges.
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
}
