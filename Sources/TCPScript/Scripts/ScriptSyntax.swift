import PacketKit

// The typed syntax tree of a packetdrill-language script (see docs/scripts.md for what of the
// language is supported). The parser (`ScriptParser`) builds it; the runner (`ScriptRunner`) plays it.

/// Where something is in a script: 1-based line and column.
public struct ScriptLocation: Hashable, Sendable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var column: Int
  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }
  public var description: String { "\(file):\(line):\(column)" }
}

/// When an event happens, as the script says it (microseconds).
public struct ScriptTime: Hashable, Sendable {
  public enum Kind: Hashable, Sendable {
    /// `0.100`: from the start of the script.
    case absolute
    /// `+0.1`: from the previous event.
    case relative
    /// `*`: any time.
    case any
  }
  public var kind: Kind
  public var microseconds: Int64
  /// `start...end`: a blocking system call that returns at `end` (absolute unless written `+x`,
  /// which is relative to the start).
  public var end: Int64?
  public var endIsRelative: Bool
  public init(kind: Kind, microseconds: Int64, end: Int64? = nil, endIsRelative: Bool = false) {
    self.kind = kind
    self.microseconds = microseconds
    self.end = end
    self.endIsRelative = endIsRelative
  }
}

/// One TCP option as a script writes it inside `<...>`.
public enum ScriptTCPOption: Hashable, Sendable {
  case noOperation
  case endOfOptionList
  case maximumSegmentSize(UInt16)
  case windowScale(UInt8)
  case sackPermitted
  /// Blocks relative to the sender's initial sequence number.
  case sack([SACKBlock])
  case timestamps(value: UInt32, echoReply: UInt32)
  /// `FO`, `FO abcd...` (RFC 7413 kind 34) or `FOEXP` (experimental kind 254, magic 0xF989).
  case fastOpen(cookie: [UInt8], experimental: Bool)
  /// `md5`: an MD5 signature option (kind 19, 16 bytes) whose value is not checked.
  case md5
}

/// The IP ECN codepoint a script writes in brackets: `[ect0]`, `[ect1]`, `[ce]`, `[noecn]`,
/// `[ect01]` (either ECT).
public enum ScriptECN: String, Hashable, Sendable {
  case noECN = "noecn", ect0, ect1, ce, ect01
}

/// A `<` (inbound, injected) or `>` (outbound, expected) TCP segment line.
public struct ScriptPacket: Hashable, Sendable {
  public var inbound: Bool
  public var ecn: ScriptECN?
  /// The flag letters as written: `S`, `S.`, `P.`, `F.`, `R`, `.`, `SEW`...
  public var flagText: String
  public var flags: TCPFlags
  public var sequenceStart: UInt32
  public var sequenceEnd: UInt32
  public var length: Int
  public var acknowledgment: UInt32?
  public var window: UInt16?
  public var urgentPointer: UInt16?
  /// `nil`: the line writes no options (outbound: the kernel must send none). `.some(nil)`: `<...>`,
  /// any options. `.some(list)`: exactly these, in this order.
  public var options: [ScriptTCPOption]??
  /// `[tos 0xNN]`: the whole TOS byte (IPv4) or traffic class (IPv6), set inbound, checked outbound.
  public var typeOfService: UInt8?
  /// `[flowlabel 0xNNNNN]` (IPv6): set inbound; outbound, packetdrill's rule: the first one a
  /// connection's script writes names the kernel's first label, and later lines say whether the
  /// label stays the same (same script value) or changes (another value). 0 is not checked.
  public var flowLabel: UInt32?
  /// `[ttl N]`: the TTL (IPv4) or hop limit (IPv6), set inbound, checked outbound.
  public var timeToLive: UInt8?
  public init(
    inbound: Bool, ecn: ScriptECN? = nil, flagText: String, flags: TCPFlags, sequenceStart: UInt32,
    sequenceEnd: UInt32, length: Int, acknowledgment: UInt32? = nil, window: UInt16? = nil,
    urgentPointer: UInt16? = nil, options: [ScriptTCPOption]?? = nil
  ) {
    self.inbound = inbound
    self.ecn = ecn
    self.flagText = flagText
    self.flags = flags
    self.sequenceStart = sequenceStart
    self.sequenceEnd = sequenceEnd
    self.length = length
    self.acknowledgment = acknowledgment
    self.window = window
    self.urgentPointer = urgentPointer
    self.options = options
  }
}

/// An argument or result of a system call line.
public indirect enum ScriptExpression: Hashable, Sendable, CustomStringConvertible {
  case integer(Int64)
  /// `...`: anything (an address, a buffer, a length the script does not care about).
  case ellipsis
  /// A symbolic constant (`SOCK_STREAM`, `O_NONBLOCK`, a `-D` name).
  case symbol(String)
  case string(String)
  /// `[1]`, `[...]`, `[{fd=3, events=POLLIN}]`.
  case list([ScriptExpression])
  /// `{l_onoff=1, l_linger=0}`; a field written `name(...)=value` keeps `name`.
  case structure([ScriptField])
  /// `A|B`.
  case bitwiseOr(ScriptExpression, ScriptExpression)
  /// `htons(8080)`, `inet_addr("192.0.2.1")`.
  case call(String, [ScriptExpression])

  public var description: String {
    switch self {
    case .integer(let value): return String(value)
    case .ellipsis: return "..."
    case .symbol(let name): return name
    case .string(let text): return "\"\(text)\""
    case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
    case .structure(let fields):
      return "{" + fields.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") + "}"
    case .bitwiseOr(let left, let right): return "\(left)|\(right)"
    case .call(let name, let arguments):
      return name + "(" + arguments.map(\.description).joined(separator: ", ") + ")"
    }
  }
}

public struct ScriptField: Hashable, Sendable {
  public var name: String
  public var value: ScriptExpression
  public init(name: String, value: ScriptExpression) {
    self.name = name
    self.value = value
  }
}

/// `name(arguments) = result [ERRNO (text)]`.
public struct ScriptSyscall: Hashable, Sendable {
  public var name: String
  public var arguments: [ScriptExpression]
  public var result: ScriptExpression
  public var errnoName: String?
  public var note: String?
  public init(
    name: String, arguments: [ScriptExpression], result: ScriptExpression, errnoName: String? = nil,
    note: String? = nil
  ) {
    self.name = name
    self.arguments = arguments
    self.result = result
    self.errnoName = errnoName
    self.note = note
  }
}

/// An ICMP line, packetdrill's `< icmp TYPE [CODE] [mtu N] [id N] [[start:end(len)] | [udp (N)]]`.
/// Inbound (`<`), an ICMP error quoting an IPv4 header and the first 8 bytes of one of the kernel's
/// TCP segments (its ports and sequence number) or UDP datagrams, so that the kernel delivers it to
/// the script's socket; an echo request quotes nothing. Outbound (`>`), what the kernel must send:
/// type, code, and the mtu, id and quoted packet where the line writes them.
public struct ScriptICMP: Hashable, Sendable {
  /// What the message quotes: a TCP segment (`[start:end(len)]`), a UDP datagram (`[udp (N)]`:
  /// `quotedLength` is its payload length), or nothing written (outbound: not checked).
  public enum Quote: Hashable, Sendable { case tcp, udp, none }
  public var inbound: Bool = true
  public var quote: Quote = .tcp
  public var type: UInt8
  public var code: UInt8
  /// The next-hop MTU of `unreachable frag_needed`.
  public var mtu: UInt16?
  /// `id N` (echo messages).
  public var identifier: UInt16
  /// The quoted segment's sequence number, in the kernel's relative numbering (`[0:1000(1000)]`:
  /// 0, its ISN), and its payload length (the quoted IPv4 header's total length counts it).
  public var quotedStart: UInt32
  public var quotedLength: Int
  public init(type: UInt8, code: UInt8 = 0, mtu: UInt16? = nil, identifier: UInt16 = 0, quotedStart: UInt32 = 0, quotedLength: Int = 0) {
    self.type = type
    self.code = code
    self.mtu = mtu
    self.identifier = identifier
    self.quotedStart = quotedStart
    self.quotedLength = quotedLength
  }

  /// packetdrill's ICMPv4 type names.
  public static let typeNames: [String: UInt8] = [
    "echo_reply": 0, "unreachable": 3, "source_quench": 4, "redirect": 5, "echo_request": 8,
    "time_exceeded": 11, "parameter_problem": 12, "timestamp_request": 13, "timestamp_reply": 14,
    "information_request": 15, "information_reply": 16, "address_mask_request": 17,
    "address_mask_reply": 18,
  ]

  /// The code names of `unreachable` (RFC 1700).
  public static let unreachableCodeNames: [String: UInt8] = [
    "net_unreachable": 0, "host_unreachable": 1, "protocol_unreachable": 2, "port_unreachable": 3,
    "frag_needed": 4, "source_route_failed": 5, "net_unknown": 6, "host_unknown": 7,
    "source_host_isolated": 8, "net_prohibited": 9, "host_prohibited": 10,
    "net_unreachable_for_tos": 11, "host_unreachable_for_tos": 12, "packet_filtered": 13,
    "precedence_violation": 14, "precedence_cutoff": 15,
  ]
}

public enum ScriptAction: Hashable, Sendable {
  case packet(ScriptPacket)
  /// An ICMP message: inbound (an error about the script's socket, an echo request) or outbound.
  case icmp(ScriptICMP)
  /// A UDP datagram, inbound (injected) or outbound (expected).
  case udp(ScriptUDP)
  case syscall(ScriptSyscall)
  /// A backtick command, run with `/bin/sh -c` inside the script's namespace.
  case shell(String)
  /// A `%{ ... }%` block of python3.
  case python(String)
  /// A line the parser understood but the runner does not play (ICMP, UDP...): the script is
  /// reported NOT RUN with this reason, never passed.
  case unsupported(String)
}

public struct ScriptEvent: Hashable, Sendable {
  public var time: ScriptTime
  public var action: ScriptAction
  public var location: ScriptLocation
  /// The source text of the event's first line (for reports).
  public var text: String
  public init(time: ScriptTime, action: ScriptAction, location: ScriptLocation, text: String) {
    self.time = time
    self.action = action
    self.location = location
    self.text = text
  }
}

/// A parsed script.
public struct Script: Hashable, Sendable {
  public var path: String
  /// `--name=value` lines at the top of the script (`--tolerance_usecs=10000`).
  public var options: [String: String]
  public var events: [ScriptEvent]
  /// The IP version the parser read the script for (its ICMP lines' type and code numbers are
  /// ICMPv6's for `ipv6`): the caller's, else the script's `--ip_version=`, else ipv4.
  public var ipVersion: ScriptIPVersion = .ipv4
  public init(path: String, options: [String: String] = [:], events: [ScriptEvent] = []) {
    self.path = path
    self.options = options
    self.events = events
  }
}

/// A parse error with its position and what was expected there.
public struct ScriptParseError: Error, Hashable, Sendable, CustomStringConvertible {
  public var location: ScriptLocation
  public var message: String
  public init(location: ScriptLocation, message: String) {
    self.location = location
    self.message = message
  }
  public var description: String { "\(location): \(message)" }
}
