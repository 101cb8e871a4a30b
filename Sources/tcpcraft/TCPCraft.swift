#if canImport(Glibc)
import Glibc
#endif

/// The `tcpcraft` command: dispatch to a command, and turn every outcome into an exit status
/// (0 as asked, 1 not as asked, 2 bad usage). Never a stack trace.
@main
struct TCPCraft {
  static func main() {
    // A closed pipe on stdout must not kill us with SIGPIPE mid-line.
    signal(SIGPIPE, SIG_IGN)
    let arguments = Array(CommandLine.arguments.dropFirst())
    exit(run(arguments))
  }

  static func run(_ arguments: [String]) -> Int32 {
    guard let command = arguments.first else {
      Terminal.error(Help.main)
      return 2
    }
    let rest = Array(arguments.dropFirst())
    switch command {
    case "handshake": return HandshakeCommand.run(rest)
    case "fin": return FinCommand.run(rest)
    case "send": return SendCommand.run(rest)
    case "listen": return ListenCommand.run(rest)
    case "sniff": return SniffCommand.run(rest)
    case "demo": return DemoCommand.run(rest)
    case "sandbox": return SandboxCommand.run(rest)
    case "decode": return DecodeCommand.run(rest)
    case "probe": return ProbeCommand.run(rest)
    case GuardHolder.command: return GuardHolder.run(rest)
    case "help", "--help", "-h":
      if let topic = rest.first {
        if topic == "decode" { return DecodeCommand.run(["--help"]) }
        guard let text = Help.text(for: topic) else {
          Terminal.error("tcpcraft: no command \"\(topic)\" (see `tcpcraft --help`)")
          return 2
        }
        Terminal.out(text)
        return 0
      }
      Terminal.out(Help.main)
      return 0
    default:
      Terminal.error("tcpcraft: unknown command \"\(command)\" (see `tcpcraft --help`)")
      return 2
    }
  }
}
