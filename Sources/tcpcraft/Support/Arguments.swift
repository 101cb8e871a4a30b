import PacketKit
import TCPScript

/// A usage mistake: one line on stderr, exit status 2.
struct UsageError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// What an option takes, checked once by `Arguments` when the command line is read.
enum OptionKind: Sendable, Equatable {
  /// No value: given or not (`--json`).
  case toggle
  /// An unsigned integer in `range`: decimal, or hex with `0x` (with `hexOnly`, hex with or
  /// without the `0x`, as checksums are written).
  case integer(ClosedRange<UInt64>, hexOnly: Bool = false)
  /// A duration in seconds (`2`, `0.5`), at most a day; zero only when `zeroAllowed`.
  case seconds(zeroAllowed: Bool = false)
  /// Text, checked by the command itself (an address, a filter, a file name); the last one wins.
  case string
  /// Text that may be given several times; every value is kept, in order.
  case repeatable
}

/// One row of a command's option table: its names, what it takes, and the line `--help` shows.
struct OptionSpec: Sendable {
  /// The long name (`--iface`), under which the value is found whatever spelling was used.
  let name: String
  /// Other spellings (`-i`).
  let aliases: [String]
  let kind: OptionKind
  /// What `--help` shows for the value (`N`, `SECONDS`, `FILE`); empty for a toggle.
  let placeholder: String
  /// One line for `--help`.
  let summary: String

  init(_ name: String, aliases: [String] = [], _ kind: OptionKind, placeholder: String = "", _ summary: String) {
    self.name = name
    self.aliases = aliases
    self.kind = kind
    self.placeholder = kind == .toggle ? "" : placeholder
    self.summary = summary
  }

  /// An option without a value.
  static func toggle(_ name: String, aliases: [String] = [], _ summary: String) -> OptionSpec {
    OptionSpec(name, aliases: aliases, .toggle, summary)
  }

  /// An integer option that must fit `type` (or the narrower `range`).
  static func integer<T: FixedWidthInteger & UnsignedInteger>(
    _ name: String, aliases: [String] = [], _ type: T.Type, range: ClosedRange<UInt64>? = nil, hexOnly: Bool = false,
    _ placeholder: String, _ summary: String
  ) -> OptionSpec {
    OptionSpec(name, aliases: aliases, .integer(range ?? 0...UInt64(T.max), hexOnly: hexOnly), placeholder: placeholder, summary)
  }

  static func seconds(_ name: String, zeroAllowed: Bool = false, placeholder: String = "SECONDS", _ summary: String) -> OptionSpec {
    OptionSpec(name, .seconds(zeroAllowed: zeroAllowed), placeholder: placeholder, summary)
  }

  static func string(_ name: String, aliases: [String] = [], _ placeholder: String, _ summary: String) -> OptionSpec {
    OptionSpec(name, aliases: aliases, .string, placeholder: placeholder, summary)
  }

  static func repeatable(_ name: String, _ placeholder: String, _ summary: String) -> OptionSpec {
    OptionSpec(name, .repeatable, placeholder: placeholder, summary)
  }

  var takesValue: Bool { kind != .toggle }
  var spellings: [String] { [name] + aliases }
}

/// Options under an optional heading in `--help` (`at rate (any of --count, --rate, --duration):`).
struct OptionGroup: Sendable {
  let title: String?
  let options: [OptionSpec]
  init(_ options: [OptionSpec]) {
    self.title = nil
    self.options = options
  }

  init(_ title: String, _ options: [OptionSpec]) {
    self.title = title
    self.options = options
  }
}

/// Everything `tcpcraft` knows about a command, declared once at the top of its file: the name,
/// the line in the main help, the usage forms, what it does, its option table and its examples.
/// `--help` is generated from it (`Help.text(for:)`), and so is parsing (`Arguments(_:spec:)`).
struct CommandSpec: Sendable {
  let name: String
  /// The command's line in `tcpcraft --help`.
  let summary: String
  /// Usage forms, each after `tcpcraft NAME ` (`HOST:PORT --flags FLAGS [options]`).
  let synopsis: [String]
  /// What the command does, in paragraphs.
  let about: String
  let options: [OptionGroup]
  /// Example command lines (a `# comment` may follow).
  let examples: [String]

  var allOptions: [OptionSpec] { options.flatMap(\.options) }

  /// The option spelled `spelling` (its name or an alias).
  func option(_ spelling: String) -> OptionSpec? {
    allOptions.first { $0.spellings.contains(spelling) }
  }
}

/// A `tcpcraft` command: its table, and what it does with the checked arguments. Adding a
/// command is one file conforming to this and one line in `TCPCraft.commands`.
protocol Command {
  static var spec: CommandSpec { get }
  /// Runs with arguments already checked against `spec` (`--help` already answered).
  static func run(_ arguments: Arguments) -> Int32
  /// The command line after the command's name: parse, answer `--help`, run. Exit status 2 and
  /// one line on stderr for a usage mistake.
  static func main(_ argv: [String]) -> Int32
}

/// What a command line comes to before a command runs.
enum ParsedCommandLine {
  case run(Arguments)
  /// A usage error was printed (one line; 2) or the help was (0).
  case exit(Int32)
}

extension Command {
  static func main(_ argv: [String]) -> Int32 {
    switch parsed(argv) {
    case .run(let arguments): return run(arguments)
    case .exit(let status): return status
    }
  }

  /// `argv` parsed against `spec` and passed through `check` (a command's own usage rules);
  /// --help prints the help.
  static func parsed(_ argv: [String], check: (Arguments) throws(UsageError) -> Void = { _ in }) -> ParsedCommandLine {
    do throws(UsageError) {
      let arguments = try Arguments(argv, spec: spec)
      try check(arguments)
      if arguments.wantsHelp {
        Terminal.out(Help.text(for: spec))
        return .exit(0)
      }
      return .run(arguments)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return .exit(2)
    }
  }

  /// The same as `main` (what tests and other commands call).
  static func run(_ argv: [String]) -> Int32 { main(argv) }
}

/// A command line checked against a command's option table, holding typed values: positionals,
/// `--name value`, `--name=value`, toggles, aliases, options that repeat. Every value was checked
/// once here, so the accessors cannot fail; an option the table does not declare reads as absent.
struct Arguments {
  enum Value: Equatable {
    case integer(UInt64)
    case seconds(Duration)
    case text(String)
  }

  /// Arguments that are not options, in order.
  private(set) var positionals: [String] = []
  /// Values by option name (aliases folded into the name), in the order given.
  private var values: [String: [Value]] = [:]
  /// Toggles that were given, by name.
  private var toggles: Set<String> = []
  private let spec: CommandSpec

  /// Parses `arguments` against `spec`. `--help`/`-h` is always a toggle; anything after `--` is
  /// positional; a negative number (`-1`) is positional (so that its range error names it).
  ///
  /// - Throws: `UsageError` naming the option for an unknown option, a missing value, a value
  ///   given to a toggle, or a value of the wrong kind or out of range.
  init(_ arguments: [String], spec: CommandSpec) throws(UsageError) {
    self.spec = spec
    let command = spec.name
    var index = 0
    var onlyPositionals = false
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if onlyPositionals || !argument.hasPrefix("-") || argument == "-" || Arguments.isNegativeNumber(argument) {
        positionals.append(argument)
        continue
      }
      if argument == "--" {
        onlyPositionals = true
        continue
      }
      if argument == "-h" || argument == "--help" {
        toggles.insert("--help")
        continue
      }
      var spelling = argument
      var inlineValue: String?
      if let equals = argument.firstIndex(of: "=") {
        spelling = String(argument[..<equals])
        inlineValue = String(argument[argument.index(after: equals)...])
      }
      guard let option = spec.option(spelling) else {
        throw UsageError("\(command): unknown option \(spelling) (see `tcpcraft \(command) --help`)")
      }
      guard option.takesValue else {
        if inlineValue != nil { throw UsageError("\(command): \(spelling) takes no value") }
        toggles.insert(option.name)
        continue
      }
      let text: String
      if let inlineValue {
        text = inlineValue
      } else {
        guard index < arguments.count else {
          throw UsageError("\(command): \(spelling) needs a value (see `tcpcraft \(command) --help`)")
        }
        text = arguments[index]
        index += 1
      }
      values[option.name, default: []].append(try Arguments.check(text, for: option, spelled: spelling))
    }
  }

  /// `text` as a value of `option`, or the one-line reason it is not one.
  static func check(_ text: String, for option: OptionSpec, spelled spelling: String) throws(UsageError) -> Value {
    switch option.kind {
    case .toggle, .string, .repeatable:
      return .text(text)
    case .integer(let range, let hexOnly):
      let hexText = hexOnly && !(text.hasPrefix("0x") || text.hasPrefix("0X")) ? "0x" + text : text
      guard let number = parseInteger(hexText, as: UInt64.self), range.contains(number) else {
        if hexOnly {
          throw UsageError(
            "\(spelling): \"\(text)\" is not a hex number from 0x\(String(range.lowerBound, radix: 16)) to 0x\(String(range.upperBound, radix: 16)) (like 0xdead)")
        }
        throw UsageError("\(spelling): \"\(text)\" is not a number from \(range.lowerBound) to \(range.upperBound)")
      }
      return .integer(number)
    case .seconds(let zeroAllowed):
      if zeroAllowed, let zero = parseZero(text) { return .seconds(zero) }
      guard let duration = parseSeconds(text) else {
        throw UsageError("\(spelling): \"\(text)\" is not a number of seconds (like 2 or 0.5)")
      }
      return .seconds(duration)
    }
  }

  private static func isNegativeNumber(_ text: String) -> Bool {
    text.count > 1 && text.hasPrefix("-") && text.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
  }

  private func name(_ spelling: String) -> String { spec.option(spelling)?.name ?? spelling }

  var wantsHelp: Bool { toggles.contains("--help") }

  /// Whether the option (toggle or valued, any spelling) was given.
  func has(_ spelling: String) -> Bool {
    let name = name(spelling)
    return toggles.contains(name) || values[name] != nil
  }

  /// The last text given for a string option.
  func value(_ spelling: String) -> String? { all(spelling).last }

  /// Every text given for a repeatable (or string) option, in order.
  func all(_ spelling: String) -> [String] {
    (values[name(spelling)] ?? []).compactMap { value in
      if case .text(let text) = value { text } else { nil }
    }
  }

  /// The integer given for an integer option, as `T` (its table range fits `T`).
  func integer<T: FixedWidthInteger & UnsignedInteger>(_ spelling: String, as type: T.Type = T.self) -> T? {
    guard case .integer(let number) = values[name(spelling)]?.last else { return nil }
    return T(exactly: number)
  }

  /// The duration given for a seconds option.
  func seconds(_ spelling: String) -> Duration? {
    guard case .seconds(let duration) = values[name(spelling)]?.last else { return nil }
    return duration
  }

  static func parseInteger<T: FixedWidthInteger & UnsignedInteger>(_ text: String, as type: T.Type) -> T? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") {
      let digits = text.dropFirst(2)
      guard !digits.isEmpty else { return nil }
      return T(digits, radix: 16)
    }
    guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return T(text)
  }

  /// A duration in seconds (`2`, `0.5`), positive, at most a day.
  static func parseSeconds(_ text: String) -> Duration? {
    guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
      text.filter({ $0 == "." }).count <= 1, let value = Double(text), value > 0, value <= 86_400
    else { return nil }
    return .milliseconds(Int64((value * 1000).rounded()))
  }

  /// `0`, `0.0`, `.0`: zero seconds.
  private static func parseZero(_ text: String) -> Duration? {
    guard !text.isEmpty, text.allSatisfy({ $0 == "0" || $0 == "." }), text.filter({ $0 == "." }).count <= 1,
      text.contains("0")
    else { return nil }
    return .zero
  }

  /// The one positional `HOST:PORT` (`[HOST:]PORT` with `defaultHost`) a command takes.
  ///
  /// - Throws: `UsageError` for a second positional, `missing` when there is none, or a bad target.
  /// With `allowIPv6`, `[ADDR]:PORT` is taken too (else it is one clear error).
  func target(command: String, missing: String, defaultHost: IPv4Address? = nil, allowIPv6: Bool = false) throws(UsageError) -> HostPort {
    try expectPositionals(atMost: 1, command: command)
    guard let text = positionals.first else { throw UsageError(missing) }
    return try HostPort.parse(text, defaultHost: defaultHost, allowIPv6: allowIPv6)
  }

  /// Fails when more than `count` positionals were given.
  func expectPositionals(atMost count: Int, command: String) throws(UsageError) {
    if positionals.count > count {
      throw UsageError("\(command): unexpected argument \"\(positionals[count])\" (see `tcpcraft \(command) --help`)")
    }
  }
}

/// `HOST:PORT`, with an IPv4 dotted quad or `localhost`; or `[ADDR]:PORT` with an IPv6 address
/// (RFC 3986 brackets, as in URLs and `ss`), where the caller accepts IPv6.
struct HostPort: Hashable, CustomStringConvertible {
  /// A dotted quad (each part 0...255, as `IPv4Address` reads it) or `localhost`.
  static func address(_ text: some StringProtocol) -> IPv4Address? {
    text == "localhost" ? .loopback : IPv4Address(text)
  }

  var address: IPv4Address
  var port: UInt16
  /// The address of a `[ADDR]:PORT` target (`address` is then 0.0.0.0); `nil` for IPv4.
  var ipv6: IPv6Address? = nil

  var description: String { ipv6.map { "[\($0)]:\(port)" } ?? "\(address):\(port)" }

  /// The address of either family (`address` or `ipv6`).
  var ip: IPAddress { ipv6.map { .v6($0) } ?? .v4(address) }
  var family: IPAddress.Family { ip.family }

  /// The target as a flow's endpoint.
  var endpoint: Endpoint { Endpoint(address: ip, port: port) }

  /// Parses `HOST:PORT`; with `defaultHost`, also `PORT` alone and `HOST:` is still an error.
  /// `[ADDR]:PORT` (IPv6) only with `allowIPv6`; otherwise it is one clear error.
  static func parse(_ text: String, defaultHost: IPv4Address? = nil, allowIPv6: Bool = false) throws(UsageError) -> HostPort {
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else {
        throw UsageError("\"\(text.prefix(80))\" has no ']' closing the IPv6 address (like [::1]:8080)")
      }
      let inner = text[text.index(after: text.startIndex)..<close]
      let rest = text[text.index(after: close)...]
      guard let address = IPv6Address(inner) else {
        throw UsageError("\"\(inner.prefix(80))\" is not an IPv6 address (like ::1 or 2001:db8::1)")
      }
      let portText = rest.hasPrefix(":") ? rest.dropFirst() : rest
      guard rest.hasPrefix(":"), let port = Arguments.parseInteger(String(portText), as: UInt16.self), port != 0 else {
        throw UsageError("\"\(portText.prefix(80))\" is not a port number (1-65535) after [\(address)]:")
      }
      guard allowIPv6 else {
        throw UsageError("\"\(text.prefix(80))\": IPv6 targets are not supported here yet; use an IPv4 address (like 127.0.0.1:\(port))")
      }
      guard !address.isLinkLocal else {
        throw UsageError("\"\(text.prefix(80))\": a link-local address needs an interface (a zone like %eth0), which tcpcraft does not take yet; use ::1, a ULA (fd00::/8) or a global address")
      }
      return HostPort(address: .any, port: port, ipv6: address)
    }
    let host: Substring
    let portText: Substring
    if let colon = text.lastIndex(of: ":") {
      host = text[..<colon]
      portText = text[text.index(after: colon)...]
    } else if let defaultHost {
      guard let port = Arguments.parseInteger(text, as: UInt16.self), port != 0 else {
        throw UsageError("\"\(text)\" is not a port number (1-65535)")
      }
      return HostPort(address: defaultHost, port: port)
    } else {
      throw UsageError("\"\(text)\" is not HOST:PORT (like 127.0.0.1:8080)")
    }
    guard let address = HostPort.address(host) else {
      if host.contains(":") {
        throw UsageError("\"\(text.prefix(80))\": put an IPv6 address in brackets, like [::1]:8080")
      }
      throw UsageError("\"\(host)\" is not an IPv4 address (like 127.0.0.1)")
    }
    guard let port = Arguments.parseInteger(String(portText), as: UInt16.self), port != 0 else {
      throw UsageError("\"\(portText)\" is not a port number (1-65535)")
    }
    return HostPort(address: address, port: port)
  }
}

extension Arguments {
  /// For the internal `__hold-guard` command, which `tcpcraft` itself starts: every option in
  /// `valued` is text, every one in `switches` a toggle.
  init(_ arguments: [String], command: String, valued: Set<String>, switches: Set<String>) throws(UsageError) {
    let options =
      valued.sorted().map { OptionSpec.string($0, "VALUE", $0) } + switches.sorted().map { OptionSpec.toggle($0, $0) }
    try self.init(
      arguments, spec: CommandSpec(name: command, summary: "", synopsis: [], about: "", options: [OptionGroup(options)], examples: []))
  }
}
