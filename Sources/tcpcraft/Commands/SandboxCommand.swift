#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RawSocket
import TCPScript

/// `tcpcraft sandbox`: a shell (or a command) in a private user + network namespace with `lo` up,
/// where a normal user holds every capability over a network of their own: start a listener, then
/// use handshake, fin and send with no sudo and no setcap. Nothing outside is reachable or changed.
enum SandboxCommand: Command {
  static let spec = CommandSpec(
    name: "sandbox",
    summary: "a shell in a private network namespace of your own, where tcpcraft needs no sudo",
    synopsis: ["[--quiet] [--join PID] [-- COMMAND [ARGUMENTS...]]"],
    about: """
      Opens $SHELL (or /bin/sh), or runs COMMAND, in a private network namespace of your own (a
      new user namespace, no root needed): only lo, with 127.0.0.1. You keep your user id and hold
      every capability inside it (tcpcraft has CAP_NET_RAW and CAP_NET_ADMIN there, tcpdump can
      capture on lo, a server can bind any port, `ip netns add` makes namespaces inside it).
      Files you write stay yours. The host's interfaces, firewall and other users are out of
      reach; everything goes when you exit.
      Inside, TCPCRAFT_SANDBOX=1 is set (for a prompt or a script to tell).
      --join PID enters the network namespace of your own process PID instead of a new one (the
      client side of `tcpcraft demo --serve --veth`, which prints its PID), and its private user
      namespace when it has one, with the same capabilities; tcpcraft there reads the server's
      TCP states from the namespace the process holds (TCPCRAFT_PEER_NETNS is set to it).
      Where the system forbids unprivileged user namespaces, it says so in one line: then use
      sudo, or the grant `sudo setcap cap_net_raw,cap_net_admin+ep $(command -v tcpcraft)`.
      Exit status: COMMAND's (or the shell's); 1 when the namespace cannot be made, 126/127 when
      COMMAND cannot be run.
      """,
    options: [
      OptionGroup([
        .toggle("--quiet", "no banner when the shell opens"),
        .integer("--join", UInt32.self, range: 1...4_194_304, "PID", "enter the network namespace of your process PID (demo --serve --veth)"),
      ])
    ],
    examples: [
      "tcpcraft sandbox",
      "  $ python3 -m http.server 8080 --bind 127.0.0.1 &",
      "  $ tcpcraft handshake 127.0.0.1:8080 && tcpcraft fin",
      "tcpcraft sandbox -- tcpcraft send 127.0.0.1:9 --flags S --expect R.",
      "tcpcraft sandbox --join 4242 -- tcpcraft handshake 10.216.243.2:8080 --mss 1460",
    ])

  /// Options before `--`, the command after it (its own options are not ours to parse).
  static func main(_ argv: [String]) -> Int32 {
    let split = argv.firstIndex(of: "--")
    let ours = Array(argv[..<(split ?? argv.endIndex)])
    let command = split.map { Array(argv[argv.index(after: $0)...]) } ?? []
    let parsed = parsed(ours) { arguments throws(UsageError) in
      if let stray = arguments.positionals.first {
        throw UsageError("sandbox: unexpected \"\(visible(stray))\": put the command after -- (tcpcraft sandbox -- COMMAND)")
      }
    }
    switch parsed {
    case .run(let arguments): return run(arguments, command: command)
    case .exit(let status): return status
    }
  }

  static func run(_ arguments: Arguments) -> Int32 { run(arguments, command: []) }

  static func run(_ arguments: Arguments, command given: [String]) -> Int32 {
    var command = given
    if command.isEmpty {
      let shell = getenv("SHELL").map { String(cString: $0) } ?? ""
      command = [shell.hasPrefix("/") ? shell : "/bin/sh"]
    }
    let join = arguments.integer("--join", as: UInt32.self).flatMap { Int32(exactly: $0) }
    do throws(UserNamespace.EntryError) {
      if let join {
        try UserNamespace.join(processID: join)
      } else {
        try UserNamespace.enter(privateMounts: true)
      }
    } catch {
      Terminal.error(join == nil ? error.advice() : "tcpcraft: sandbox --join: \(error.description)")
      return 1
    }
    setenv("TCPCRAFT_SANDBOX", "1", 1)
    if let join, let server = serverNamespace(of: join) {
      // The server's sockets live there: tcpcraft reads their states through it.
      setenv(PeerNamespace.environmentVariable, server, 1)
    }
    if let join, given.isEmpty && !arguments.has("--quiet") {
      Terminal.error(
        "tcpcraft sandbox: in the network namespace of process \(join) (the client side of demo --serve --veth); "
          + "tcpcraft needs no sudo here. `exit` leaves it.")
    } else if given.isEmpty && !arguments.has("--quiet") {
      Terminal.error(
        "tcpcraft sandbox: a private network namespace (only lo, 127.0.0.1) where you hold every capability; "
          + "tcpcraft needs no sudo here. `exit` leaves it and removes it.")
    }
    let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    execvp(command[0], argv)
    let error = errno
    Terminal.error("tcpcraft: sandbox: cannot run \"\(visible(command[0]))\": \(String(cString: strerror(error)))")
    return error == ENOENT ? 127 : 126
  }

  /// The other network namespace process `pid` holds by a descriptor (the server side of `demo
  /// --serve --veth`), as `/proc/PID/fd/N`, or `nil`.
  static func serverNamespace(of pid: Int32) -> String? {
    let files = FileManager.default
    guard let own = try? files.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"),
      let descriptors = try? files.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
    else { return nil }
    for descriptor in descriptors.sorted() where descriptor.allSatisfy(\.isNumber) {
      let path = "/proc/\(pid)/fd/\(descriptor)"
      if let target = try? files.destinationOfSymbolicLink(atPath: path), target.hasPrefix("net:["), target != own {
        return path
      }
    }
    return nil
  }

  /// `text` with control characters shown as `\u{..}` escapes (never echoed raw to a terminal).
  static func visible(_ text: String) -> String {
    String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())
  }
}
