#if canImport(Glibc)
import Glibc
#endif
import RawSocket

/// The `tcpcraft` command: dispatch to a command, and turn every outcome into an exit status
/// (0 as asked, 1 not as asked, 2 bad usage). Never a stack trace.
@main
struct TCPCraft {
  /// Every command, in the order of `tcpcraft --help`. A new command: its file, and a line here.
  static var commands: [any Command.Type] {
    [
      DemoCommand.self,
      HandshakeCommand.self,
      FinCommand.self,
      SendCommand.self,
      ListenCommand.self,
      DataCommand.self,
      SniffCommand.self,
      DecodeCommand.self,
      ProbeCommand.self,
      RunCommand.self,
      SandboxCommand.self,
    ]
  }

  /// Their tables, in the same order.
  static var specs: [CommandSpec] {
    var specs: [CommandSpec] = []
    for command in commands { specs.append(command.spec) }
    return specs
  }

  static func command(named name: String) -> (any Command.Type)? {
    for command in commands where command.spec.name == name { return command }
    return nil
  }

  static func main() {
    // A closed pipe on stdout must not kill us with SIGPIPE mid-line.
    // (Neither call fails for these valid signal numbers; nothing to report if one did.)
    try? SignalDisposition.ignore(SIGPIPE)
    // A parent may start us with signals blocked (test harnesses, some supervisors): Ctrl-C and
    // SIGTERM must still end a capture or an exchange cleanly, so they are always deliverable.
    try? SignalDisposition.unblock([SIGINT, SIGTERM, SIGHUP])
    let arguments = Array(CommandLine.arguments.dropFirst())
    exit(run(arguments))
  }

  static func run(_ arguments: [String]) -> Int32 {
    guard let name = arguments.first else {
      // Bad usage is one line (exit 2); the whole text is one `--help` away.
      let names = commands.map { $0.spec.name }.joined(separator: ", ")
      Terminal.error("tcpcraft: missing command: one of \(names) (see `tcpcraft --help`)")
      return 2
    }
    let rest = Array(arguments.dropFirst())
    if let command = command(named: name) { return command.main(rest) }
    switch name {
    case GuardHolder.command: return GuardHolder.run(rest)
    case "help", "--help", "-h":
      // `tcpcraft help --help` (or `help help`) asks for the same text as `tcpcraft --help`.
      guard let topic = rest.first, !["help", "--help", "-h"].contains(topic) else {
        Terminal.out(Help.main)
        return 0
      }
      guard let command = command(named: topic) else {
        Terminal.error("tcpcraft: no command \"\(topic)\" (see `tcpcraft --help`)")
        return 2
      }
      return command.main(["--help"])
    default:
      Terminal.error("tcpcraft: unknown command \"\(name)\" (see `tcpcraft --help`)")
      return 2
    }
  }
}
