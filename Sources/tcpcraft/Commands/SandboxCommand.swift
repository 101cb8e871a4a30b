#if canImport(Glibc)
import Glibc
#endif
import RawSocket

/// `tcpcraft sandbox`: a shell (or a command) in a private user + network namespace with `lo` up,
/// where a normal user is root of a network of their own: start a listener, then use handshake,
/// fin and send with no sudo and no setcap. Nothing outside is reachable or changed.
enum SandboxCommand {
  static let help = """
    usage: tcpcraft sandbox [-- COMMAND [ARGUMENTS...]]

    Opens $SHELL (or /bin/sh), or runs COMMAND, in a private network namespace of your own (a new
    user namespace, no root needed): only lo, with 127.0.0.1. You keep your user id and hold
    every capability inside it (tcpcraft has CAP_NET_RAW and CAP_NET_ADMIN there, tcpdump can
    capture on lo, a server can bind any port). Files you write stay yours. The host's
    interfaces, firewall and other users are out of reach; everything goes when you exit.
    Where the system forbids unprivileged user namespaces, it says so: use sudo, or the grant
    `sudo setcap cap_net_raw,cap_net_admin+ep $(command -v tcpcraft)`.

    examples:
      tcpcraft sandbox
        $ python3 -m http.server 8080 --bind 127.0.0.1 &
        $ tcpcraft handshake 127.0.0.1:8080 && tcpcraft fin
      tcpcraft sandbox -- tcpcraft send 127.0.0.1:9 --flags S --expect R.
    """

  static func run(_ argv: [String]) -> Int32 {
    var command: [String] = []
    if let first = argv.first {
      if first == "--help" || first == "-h" { Terminal.out(help); return 0 }
      guard first == "--" else {
        Terminal.error("tcpcraft: sandbox: unexpected \"\(visible(first))\": put the command after -- (tcpcraft sandbox -- COMMAND)")
        return 2
      }
      command = Array(argv.dropFirst())
    }
    if command.isEmpty {
      let shell = getenv("SHELL").map { String(cString: $0) } ?? ""
      command = [shell.hasPrefix("/") ? shell : "/bin/sh"]
    }
    do throws(UserNamespace.EntryError) {
      try UserNamespace.enter()
    } catch {
      Terminal.error(error.advice())
      return 1
    }
    setenv("TCPCRAFT_SANDBOX", "1", 1)
    if argv.isEmpty {
      Terminal.error(
        "tcpcraft sandbox: a private network namespace (only lo, 127.0.0.1) where you hold every capability; "
          + "tcpcraft needs no sudo here. `exit` leaves it and removes it.")
    }
    let arguments: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    execvp(command[0], arguments)
    let error = errno
    Terminal.error("tcpcraft: sandbox: cannot run \"\(visible(command[0]))\": \(String(cString: strerror(error)))")
    return error == ENOENT ? 127 : 126
  }

  /// `text` with control characters shown as `\u{..}` escapes (never echoed raw to a terminal).
  static func visible(_ text: String) -> String {
    String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())
  }
}
