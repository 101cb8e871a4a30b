import TCPScript

/// A usage mistake: one line on stderr, exit status 2.
struct UsageError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Hand-written argument parsing (no ArgumentParser): positionals, `--name value`,
/// `--name=value`, switches, and options that may repeat.
struct Arguments {
  /// Arguments that are not options, in order.
  private(set) var positionals: [String] = []
  /// Values of options, in the order given (an option may repeat).
  private(set) var values: [String: [String]] = [:]
  /// Switches that were given.
  private(set) var switches: Set<String> = []

  /// Parses `arguments` for a command that knows the options in `valued` (they take a value) and
  /// `switches` (they do not). `--help`/`-h` is always a switch. Anything after `--` is positional.
  init(_ arguments: [String], command: String, valued: Set<String>, switches knownSwitches: Set<String>)
    throws(UsageError)
  {
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
        switches.insert("--help")
        continue
      }
      var name = argument
      var inlineValue: String?
      if let equals = argument.firstIndex(of: "=") {
        name = String(argument[..<equals])
        inlineValue = String(argument[argument.index(after: equals)...])
      }
      if valued.contains(name) {
        let value: String
        if let inlineValue {
          value = inlineValue
        } else {
          guard index < arguments.count else {
            throw UsageError("\(command): \(name) needs a value (see `tcpcraft \(command) --help`)")
          }
          value = arguments[index]
          index += 1
        }
        values[name, default: []].append(value)
      } else if knownSwitches.contains(name) {
        if inlineValue != nil { throw UsageError("\(command): \(name) takes no value") }
        switches.insert(name)
      } else {
        throw UsageError("\(command): unknown option \(name) (see `tcpcraft \(command) --help`)")
      }
    }
  }

  private static func isNegativeNumber(_ text: String) -> Bool {
    text.count > 1 && text.hasPrefix("-") && text.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
  }

  var wantsHelp: Bool { switches.contains("--help") }

  func has(_ name: String) -> Bool { switches.contains(name) || values[name] != nil }

  /// The last value given for `name`.
  func value(_ name: String) -> String? { values[name]?.last }

  /// Every value given for `name`, in order.
  func all(_ name: String) -> [String] { values[name] ?? [] }

  /// An unsigned integer option (decimal, or hex with `0x`) that must fit `T`.
  func integer<T: FixedWidthInteger & UnsignedInteger>(_ name: String, as type: T.Type = T.self) throws(UsageError) -> T? {
    guard let text = value(name) else { return nil }
    guard let number = Arguments.parseInteger(text, as: T.self) else {
      throw UsageError("\(name): \"\(text)\" is not a number from 0 to \(T.max)")
    }
    return number
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
  func seconds(_ name: String) throws(UsageError) -> Duration? {
    guard let text = value(name) else { return nil }
    guard let duration = Arguments.parseSeconds(text) else {
      throw UsageError("\(name): \"\(text)\" is not a number of seconds (like 2 or 0.5)")
    }
    return duration
  }

  static func parseSeconds(_ text: String) -> Duration? {
    guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
      text.filter({ $0 == "." }).count <= 1, let value = Double(text), value > 0, value <= 86_400
    else { return nil }
    return .milliseconds(Int64((value * 1000).rounded()))
  }

  /// The one positional `HOST:PORT` (`[HOST:]PORT` with `defaultHost`) a command takes.
  ///
  /// - Throws: `UsageError` for a second positional, `missing` when there is none, or a bad target.
  func target(command: String, missing: String, defaultHost: UInt32? = nil) throws(UsageError) -> HostPort {
    try expectPositionals(atMost: 1, command: command)
    guard let text = positionals.first else { throw UsageError(missing) }
    return try HostPort.parse(text, defaultHost: defaultHost)
  }

  /// Fails when more than `count` positionals were given.
  func expectPositionals(atMost count: Int, command: String) throws(UsageError) {
    if positionals.count > count {
      throw UsageError("\(command): unexpected argument \"\(positionals[count])\" (see `tcpcraft \(command) --help`)")
    }
  }
}

/// `HOST:PORT`, with an IPv4 dotted quad or `localhost`.
struct HostPort: Hashable, CustomStringConvertible {
  var address: UInt32
  var port: UInt16

  var description: String { "\(IPv4Text.format(address)):\(port)" }

  /// Parses `HOST:PORT`; with `defaultHost`, also `PORT` alone and `HOST:` is still an error.
  static func parse(_ text: String, defaultHost: UInt32? = nil) throws(UsageError) -> HostPort {
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
    guard let address = IPv4Text.parse(host) else {
      throw UsageError("\"\(host)\" is not an IPv4 address (like 127.0.0.1)")
    }
    guard let port = Arguments.parseInteger(String(portText), as: UInt16.self), port != 0 else {
      throw UsageError("\"\(portText)\" is not a port number (1-65535)")
    }
    return HostPort(address: address, port: port)
  }
}
