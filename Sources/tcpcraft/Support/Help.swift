/// `--help` text, generated from the commands' tables (`CommandSpec`).
enum Help {
  /// `tcpcraft --help`: one line a command, from `TCPCraft.commands`.
  static var main: String {
    let specs = TCPCraft.specs
    let width = (specs.map { $0.name.count }.max() ?? 8) + 4
    let lines = specs.map { "  " + pad($0.name, width) + $0.summary }
    return """
      tcpcraft — craft TCP segments over IPv4 or IPv6 by hand, send them, capture the replies,
      and drive TCP exchanges one segment at a time (Linux; needs CAP_NET_RAW and CAP_NET_ADMIN:
      `demo` and `sandbox` need no root where user namespaces are allowed; otherwise sudo, or the
      grant `sudo setcap cap_net_raw,cap_net_admin+ep $(command -v tcpcraft)`).

      usage: tcpcraft <command> [options]

      commands:
      \(lines.joined(separator: "\n"))
        \(pad("help", width))this text, or `tcpcraft help <command>`

      every command takes --help. Exit status: 0 the exchange went as asked, 1 it did not (RST,
      timeout, mismatch, missing privileges), 2 bad usage.

      examples:
        tcpcraft demo --explain
        tcpcraft sandbox
        sudo tcpcraft handshake 127.0.0.1:8080 --isn 84347051 && sudo tcpcraft fin --seq 84347052
        sudo tcpcraft send 127.0.0.1:8080 --flags S --expect S.
        sudo tcpcraft handshake [::1]:8080 && sudo tcpcraft fin [::1]:8080
        sudo tcpcraft sniff -i lo --count 10 tcp port 8080
      """
  }

  /// The column where option descriptions start.
  static let descriptionColumn = 24

  /// A command's `--help`: usage forms, what it does, `options:` (every option with its line,
  /// under its group's heading), `examples:`.
  static func text(for spec: CommandSpec) -> String {
    var lines: [String] = []
    for (index, form) in spec.synopsis.enumerated() {
      lines.append((index == 0 ? "usage: " : "       ") + "tcpcraft \(spec.name) \(form)")
    }
    lines.append("")
    lines.append(spec.about)
    lines.append("")
    lines.append("options:")
    lines.append("  \(pad("-h, --help", descriptionColumn - 2))this help")
    for group in spec.options {
      if let title = group.title {
        lines.append("")
        lines.append("  \(title)")
      }
      for option in group.options { lines.append(contentsOf: optionLines(option)) }
    }
    lines.append("")
    lines.append("examples:")
    for example in spec.examples {
      lines.append(example.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
    }
    return lines.joined(separator: "\n")
  }

  /// `  -i, --iface NAME      the interface (default lo)`; the description goes on its own line
  /// when the names are too long for the column.
  static func optionLines(_ option: OptionSpec) -> [String] {
    var names = (option.aliases + [option.name]).joined(separator: ", ")
    if !option.placeholder.isEmpty { names += " \(option.placeholder)" }
    if option.kind == .repeatable { names += "..." }
    let head = "  " + names
    if head.count < descriptionColumn - 1 { return [pad(head, descriptionColumn) + option.summary] }
    return [head, String(repeating: " ", count: descriptionColumn) + option.summary]
  }

  static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
  }
}
