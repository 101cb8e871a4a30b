import PacketKit
import RawSocket

/// A capture filter as a value: which IPv4 frames a capture keeps, compiled to a classic BPF
/// program that the kernel runs on every frame (`PacketSocket.attach`).
///
/// Build it from cases and operators, or parse the text users type for tcpdump:
///
///     let filter: CaptureFilter = .tcp && .port(8080) && !.host("127.0.0.2")
///     let same = try CaptureFilter(parsing: "tcp and port 8080 and not host 127.0.0.2")
///
/// Meaning follows tcpdump (libpcap) for IPv4:
/// - `tcp`, `udp`, `icmp`, `ip`: IPv4 frames with that protocol.
/// - `host A`: source or destination address is A (tcpdump also matches ARP; we do not).
/// - `port N`: TCP, UDP or SCTP with source or destination port N, only in first fragments
///   (later fragments carry no ports), reading the ports after the IPv4 header *with options*
///   (`ldxb 4*([14]&0xf)`).
/// - `tcp[tcpflags] & MASK == VALUE` (or `!=`): TCP flag tests, first fragments only.
///
/// And for IPv6, as libpcap does:
/// - `tcp`, `udp` also match IPv6 whose next header is that protocol, directly or after a
///   Fragment header; `port N` also matches IPv6 whose next header is TCP, UDP or SCTP directly
///   (ports right after the 40-byte header; other extension-header chains are not walked, as in
///   libpcap). `icmp`, `host a.b.c.d` and the flag tests stay IPv4 only.
/// - `ip6`, `icmp6` (next header 58, directly or after a Fragment header), and `host X` /
///   `ip6 host X` with an IPv6 address.
public indirect enum CaptureFilter: Hashable, Sendable {
  /// Every frame (the empty expression).
  case all
  /// IPv4 frames (`ip`).
  case ip
  /// IPv4 carrying TCP (`tcp`, protocol 6).
  case tcp
  /// IPv4 carrying UDP (`udp`, protocol 17).
  case udp
  /// IPv4 carrying ICMP (`icmp`, protocol 1).
  case icmp
  /// An IPv4 address, host byte order (0x7F00_0001 = 127.0.0.1), in the given position
  /// (`host A`, `src host A`, `dst host A`).
  case host(IPv4Address, Direction = .either)
  /// A TCP/UDP/SCTP port, host order (`port N`, `src port N`, `dst port N`).
  case port(UInt16, Direction = .either)
  /// A test of the TCP flags byte (`tcp[tcpflags] & MASK == VALUE`).
  case tcpFlags(TCPFlagTest)
  /// IPv6 frames (`ip6`).
  case ip6
  /// IPv6 carrying ICMPv6 (`icmp6`, next header 58).
  case icmp6
  /// An IPv6 address in the given position (`host fe80::1`, `src host ::1`).
  case host6(IPv6Address, Direction = .either)
  /// Both (`and`, `&&`).
  case and(CaptureFilter, CaptureFilter)
  /// Either (`or`, `||`).
  case or(CaptureFilter, CaptureFilter)
  /// Not (`not`, `!`).
  case not(CaptureFilter)

  /// Which address or port of a packet a primitive looks at.
  public enum Direction: Hashable, Sendable {
    /// Source or destination (tcpdump's default).
    case either
    /// The source (`src`).
    case source
    /// The destination (`dst`).
    case destination
  }

  /// The link layer in front of the IPv4 header, which decides the offsets.
  public enum LinkType: Hashable, Sendable {
    /// A 14-byte Ethernet header, as on Ethernet, veth and Linux `lo` (AF_PACKET `SOCK_RAW`).
    case ethernet
    /// No link header: the IPv4 header at offset 0 (LINKTYPE_RAW, AF_PACKET `SOCK_DGRAM`).
    case rawIPv4
  }

  /// Bits of the TCP flags byte (byte 13 of the TCP header), named as in tcpdump.
  public enum FlagBits {
    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let push: UInt8 = 0x08
    public static let ack: UInt8 = 0x10
    public static let urg: UInt8 = 0x20
    public static let ece: UInt8 = 0x40
    public static let cwr: UInt8 = 0x80
  }

  /// `(flags & mask) == value` or `!=`.
  public struct TCPFlagTest: Hashable, Sendable {
    /// The bits looked at (0xFF: all).
    public var mask: UInt8
    /// The value compared with the masked flags.
    public var value: UInt8
    /// `true` for `==`, `false` for `!=`.
    public var isEqual: Bool

    public init(mask: UInt8 = 0xFF, isEqual: Bool, value: UInt8) {
      self.mask = mask
      self.value = value
      self.isEqual = isEqual
    }

    /// Any of `bits` set: `tcp[tcpflags] & bits != 0`.
    public static func anySet(_ bits: UInt8) -> TCPFlagTest {
      TCPFlagTest(mask: bits, isEqual: false, value: 0)
    }
    /// Among `mask`, exactly `bits` set: `tcp[tcpflags] & mask == bits`.
    public static func exactly(_ bits: UInt8, among mask: UInt8 = 0xFF) -> TCPFlagTest {
      TCPFlagTest(mask: mask, isEqual: true, value: bits)
    }
  }

  /// Both filters (`and`).
  public static func && (lhs: CaptureFilter, rhs: CaptureFilter) -> CaptureFilter { .and(lhs, rhs) }
  /// Either filter (`or`).
  public static func || (lhs: CaptureFilter, rhs: CaptureFilter) -> CaptureFilter { .or(lhs, rhs) }
  /// The opposite filter (`not`).
  public static prefix func ! (operand: CaptureFilter) -> CaptureFilter { .not(operand) }
}

// MARK: - Text form

extension CaptureFilter: CustomStringConvertible {
  /// The tcpdump text of the filter; `CaptureFilter(parsing:)` reads it back to an equal value.
  /// Compound operands are parenthesised (tcpdump gives `and` and `or` the same precedence).
  public var description: String {
    switch self {
    case .all: return ""
    case .ip: return "ip"
    case .tcp: return "tcp"
    case .udp: return "udp"
    case .icmp: return "icmp"
    case .host(let address, let direction):
      return direction.prefix + "host \(address)"
    case .port(let port, let direction):
      return direction.prefix + "port \(port)"
    case .ip6: return "ip6"
    case .icmp6: return "icmp6"
    case .host6(let address, let direction):
      return direction.prefix + "host " + address.description
    case .tcpFlags(let test):
      let mask = test.mask == 0xFF ? "" : " & " + CaptureFilter.flagText(test.mask, grouped: true)
      return "tcp[tcpflags]\(mask) \(test.isEqual ? "==" : "!=") "
        + CaptureFilter.flagText(test.value, grouped: true)
    case .and(let left, let right):
      return "\(left.operandText) and \(right.operandText)"
    case .or(let left, let right):
      return "\(left.operandText) or \(right.operandText)"
    case .not(let operand):
      return "not \(operand.operandText)"
    }
  }

  private var operandText: String {
    switch self {
    case .and, .or: "(\(description))"
    case .all: "(ip or not ip)"
    default: description
    }
  }


  static let flagNames: [(UInt8, String)] = [
    (FlagBits.fin, "tcp-fin"), (FlagBits.syn, "tcp-syn"), (FlagBits.rst, "tcp-rst"),
    (FlagBits.push, "tcp-push"), (FlagBits.ack, "tcp-ack"), (FlagBits.urg, "tcp-urg"),
    (FlagBits.ece, "tcp-ece"), (FlagBits.cwr, "tcp-cwr"),
  ]

  /// `0`, `tcp-syn`, or `(tcp-syn|tcp-ack)`.
  static func flagText(_ bits: UInt8, grouped: Bool) -> String {
    if bits == 0 { return "0" }
    let names = flagNames.filter { bits & $0.0 != 0 }.map(\.1)
    if names.count == 1 { return names[0] }
    let joined = names.joined(separator: "|")
    return grouped ? "(\(joined))" : joined
  }
}

extension CaptureFilter {
  /// An address of either family in the given position (`host 127.0.0.1`, `dst host ::1`).
  public static func host(_ address: IPAddress, _ direction: Direction = .either) -> CaptureFilter {
    switch address {
    case .v4(let v4): .host(v4, direction)
    case .v6(let v6): .host6(v6, direction)
    }
  }

  /// TCP segments (IPv4 or IPv6) from `remote` to `local` (what a flow receives); an unspecified
  /// address or a port of 0 matches any.
  public static func segments(from remote: Endpoint, to local: Endpoint) -> CaptureFilter {
    var filter = CaptureFilter.tcp
    if !local.isAnyAddress { filter = filter && .host(local.address, .destination) }
    if !remote.isAnyAddress { filter = filter && .host(remote.address, .source) }
    if remote.port != 0 { filter = filter && .port(remote.port, .source) }
    if local.port != 0 { filter = filter && .port(local.port, .destination) }
    return filter
  }

  /// TCP segments (IPv4 or IPv6) between `one` and `other`, both directions; an unspecified
  /// address or a port of 0 is left out.
  public static func flow(between one: Endpoint, and other: Endpoint) -> CaptureFilter {
    var filter = CaptureFilter.tcp
    for endpoint in [one, other] {
      if !endpoint.isAnyAddress { filter = filter && .host(endpoint.address) }
      if endpoint.port != 0 { filter = filter && .port(endpoint.port) }
    }
    return filter
  }
}

extension CaptureFilter.Direction {
  fileprivate var prefix: String {
    switch self {
    case .either: ""
    case .source: "src "
    case .destination: "dst "
    }
  }
}

// MARK: - Compiling to classic BPF

/// Why a filter could not be parsed or compiled: the column (1-based; 0 when not about a
/// place in the text) and what was expected there.
public struct CaptureFilterError: Error, Hashable, Sendable, CustomStringConvertible {
  /// 1-based column in the filter text, or 0 for compile errors.
  public var column: Int
  /// What is wrong, e.g. "expected a port number after 'port', found 'http'".
  public var message: String

  public init(column: Int, message: String) {
    self.column = column
    self.message = message
  }

  public var description: String {
    column > 0 ? "filter error at column \(column): \(message)" : "filter error: \(message)"
  }
}

extension CaptureFilter {
  /// Compiles the filter to a classic BPF program for frames of `linkType`. A frame that
  /// matches is kept whole (up to 262144 bytes); one that does not is dropped.
  ///
  /// The code is plain (no optimiser): each primitive checks the frame is IPv4 (EtherType
  /// 0x0800, or version 4 for raw IPv4), then its field. Port and flag tests reject non-first
  /// fragments and find the transport header through the IHL.
  ///
  /// - Throws: `CaptureFilterError` when the program would need a conditional jump longer than
  ///   BPF's 255 instructions, or is over the kernel's 4096 instructions.
  public func compile(for linkType: LinkType = .ethernet) throws(CaptureFilterError) -> BPFProgram {
    var emitter = BPFEmitter(networkOffset: linkType == .ethernet ? 14 : 0, linkType: linkType)
    let accept = emitter.newLabel()
    let reject = emitter.newLabel()
    emitter.generate(self, onTrue: accept, onFalse: reject)
    emitter.place(accept)
    emitter.emit(.return(BPFProgram.defaultSnapshotLength))
    emitter.place(reject)
    emitter.emit(.return(0))
    return try emitter.resolve()
  }
}

/// Code generation with symbolic labels, resolved to relative jumps at the end.
private struct BPFEmitter {
  let networkOffset: UInt32
  let linkType: CaptureFilter.LinkType
  private var code: [(instruction: BPFInstruction, ifTrue: Int?, ifFalse: Int?)] = []
  private var positions: [Int: Int] = [:]
  private var labelCount = 0

  init(networkOffset: UInt32, linkType: CaptureFilter.LinkType) {
    self.networkOffset = networkOffset
    self.linkType = linkType
  }

  mutating func newLabel() -> Int {
    labelCount += 1
    return labelCount - 1
  }

  mutating func place(_ label: Int) { positions[label] = code.count }

  mutating func emit(_ instruction: BPFInstruction) { code.append((instruction, nil, nil)) }

  /// A conditional jump (`condition` from `BPFOpcode`) to labels.
  mutating func branch(_ condition: UInt16, _ value: UInt32, _ ifTrue: Int, _ ifFalse: Int) {
    code.append((.jump(condition, value, ifTrue: 0, ifFalse: 0), ifTrue, ifFalse))
  }

  /// An unconditional jump to a label.
  mutating func jump(_ label: Int) { code.append((.jump(always: 0), label, nil)) }

  /// Falls through to the next instruction when the frame is IPv4, else to `onFalse`.
  mutating func requireIPv4(onFalse: Int) { requireIPVersion(4, etherType: 0x0800, onFalse: onFalse) }

  /// Falls through to the next instruction when the frame is IPv6, else to `onFalse`.
  mutating func requireIPv6(onFalse: Int) { requireIPVersion(6, etherType: 0x86DD, onFalse: onFalse) }

  /// Falls through when the frame carries IP `version`: on Ethernet its EtherType is
  /// `etherType`; on a raw IP link the first nibble is `version`. Else to `onFalse`.
  private mutating func requireIPVersion(_ version: UInt32, etherType: UInt32, onFalse: Int) {
    let next = newLabel()
    switch linkType {
    case .ethernet:
      emit(.load(size: BPFOpcode.halfword, absolute: 12))
      branch(BPFOpcode.equal, etherType, next, onFalse)
    case .rawIPv4:
      emit(.load(size: BPFOpcode.byte, absolute: 0))
      emit(.alu(BPFOpcode.and, 0xF0))
      branch(BPFOpcode.equal, version << 4, next, onFalse)
    }
    place(next)
  }

  /// IPv6 whose next header is `proto`, directly or after a Fragment header (libpcap's
  /// `ip6 proto`): to `onTrue`, else `onFalse`.
  mutating func ipv6Protocol(_ proto: UInt32, onTrue: Int, onFalse: Int) {
    let notDirect = newLabel()
    let fragment = newLabel()
    requireIPv6(onFalse: onFalse)
    emit(.load(size: BPFOpcode.byte, absolute: networkOffset + 6))
    branch(BPFOpcode.equal, proto, onTrue, notDirect)
    place(notDirect)
    branch(BPFOpcode.equal, 44, fragment, onFalse)
    place(fragment)
    emit(.load(size: BPFOpcode.byte, absolute: networkOffset + 40))
    branch(BPFOpcode.equal, proto, onTrue, onFalse)
  }

  /// The 16 octets at `offset` equal `address` (four word compares).
  mutating func addressEquals(_ address: IPv6Address, at offset: UInt32, onTrue: Int, onFalse: Int) {
    let words = [
      UInt32(truncatingIfNeeded: address.high >> 32), UInt32(truncatingIfNeeded: address.high),
      UInt32(truncatingIfNeeded: address.low >> 32), UInt32(truncatingIfNeeded: address.low),
    ]
    for (i, word) in words.enumerated() {
      emit(.load(size: BPFOpcode.word, absolute: offset + UInt32(4 * i)))
      if i == 3 {
        branch(BPFOpcode.equal, word, onTrue, onFalse)
      } else {
        let next = newLabel()
        branch(BPFOpcode.equal, word, next, onFalse)
        place(next)
      }
    }
  }

  /// Falls through when this is the first fragment (offset 0), else to `onFalse`.
  mutating func requireFirstFragment(onFalse: Int) {
    let next = newLabel()
    emit(.load(size: BPFOpcode.halfword, absolute: networkOffset + 6))
    branch(BPFOpcode.anySet, 0x1FFF, onFalse, next)
    place(next)
  }

  /// How deep `generate` is, and whether a filter was too deep to walk (a tree built in code can
  /// nest without bound; the recursion must not overflow the stack).
  private var depth = 0
  private var tooDeep = false
  static let maximumDepth = 2048

  mutating func generate(_ filter: CaptureFilter, onTrue: Int, onFalse: Int) {
    guard !tooDeep else { return }
    guard depth < Self.maximumDepth else {
      tooDeep = true
      return
    }
    depth += 1
    defer { depth -= 1 }
    let base = networkOffset
    switch filter {
    case .all:
      jump(onTrue)
    case .ip:
      requireIPv4(onFalse: onFalse)
      jump(onTrue)
    case .tcp, .udp, .icmp:
      let proto: UInt32 = filter == .tcp ? 6 : filter == .udp ? 17 : 1
      // TCP and UDP over IPv6 too (libpcap's `tcp` is `ip proto 6 or ip6 proto 6`).
      let notIPv4 = filter == .icmp ? onFalse : newLabel()
      requireIPv4(onFalse: notIPv4)
      emit(.load(size: BPFOpcode.byte, absolute: base + 9))
      branch(BPFOpcode.equal, proto, onTrue, onFalse)
      if filter != .icmp {
        place(notIPv4)
        ipv6Protocol(proto, onTrue: onTrue, onFalse: onFalse)
      }
    case .ip6:
      requireIPv6(onFalse: onFalse)
      jump(onTrue)
    case .icmp6:
      ipv6Protocol(58, onTrue: onTrue, onFalse: onFalse)
    case .host6(let address, let direction):
      requireIPv6(onFalse: onFalse)
      switch direction {
      case .source: addressEquals(address, at: base + 8, onTrue: onTrue, onFalse: onFalse)
      case .destination: addressEquals(address, at: base + 24, onTrue: onTrue, onFalse: onFalse)
      case .either:
        let second = newLabel()
        addressEquals(address, at: base + 8, onTrue: onTrue, onFalse: second)
        place(second)
        addressEquals(address, at: base + 24, onTrue: onTrue, onFalse: onFalse)
      }
    case .host(let address, let direction):
      requireIPv4(onFalse: onFalse)
      switch direction {
      case .source:
        emit(.load(size: BPFOpcode.word, absolute: base + 12))
        branch(BPFOpcode.equal, address.rawValue, onTrue, onFalse)
      case .destination:
        emit(.load(size: BPFOpcode.word, absolute: base + 16))
        branch(BPFOpcode.equal, address.rawValue, onTrue, onFalse)
      case .either:
        let second = newLabel()
        emit(.load(size: BPFOpcode.word, absolute: base + 12))
        branch(BPFOpcode.equal, address.rawValue, onTrue, second)
        place(second)
        emit(.load(size: BPFOpcode.word, absolute: base + 16))
        branch(BPFOpcode.equal, address.rawValue, onTrue, onFalse)
      }
    case .port(let port, let direction):
      // IPv6 first, as libpcap: TCP, UDP or SCTP right after the fixed header.
      let notIPv6 = newLabel()
      let ipv6Ports = newLabel()
      let ipv6NotSCTP = newLabel()
      let ipv6NotTCP = newLabel()
      requireIPv6(onFalse: notIPv6)
      emit(.load(size: BPFOpcode.byte, absolute: base + 6))
      branch(BPFOpcode.equal, 132, ipv6Ports, ipv6NotSCTP)
      place(ipv6NotSCTP)
      branch(BPFOpcode.equal, 6, ipv6Ports, ipv6NotTCP)
      place(ipv6NotTCP)
      branch(BPFOpcode.equal, 17, ipv6Ports, onFalse)
      place(ipv6Ports)
      switch direction {
      case .source:
        emit(.load(size: BPFOpcode.halfword, absolute: base + 40))
        branch(BPFOpcode.equal, UInt32(port), onTrue, onFalse)
      case .destination:
        emit(.load(size: BPFOpcode.halfword, absolute: base + 42))
        branch(BPFOpcode.equal, UInt32(port), onTrue, onFalse)
      case .either:
        let second = newLabel()
        emit(.load(size: BPFOpcode.halfword, absolute: base + 40))
        branch(BPFOpcode.equal, UInt32(port), onTrue, second)
        place(second)
        emit(.load(size: BPFOpcode.halfword, absolute: base + 42))
        branch(BPFOpcode.equal, UInt32(port), onTrue, onFalse)
      }
      place(notIPv6)
      requireIPv4(onFalse: onFalse)
      let hasPorts = newLabel()
      let notTCP = newLabel()
      let notUDP = newLabel()
      emit(.load(size: BPFOpcode.byte, absolute: base + 9))
      branch(BPFOpcode.equal, 6, hasPorts, notTCP)
      place(notTCP)
      branch(BPFOpcode.equal, 17, hasPorts, notUDP)
      place(notUDP)
      branch(BPFOpcode.equal, 132, hasPorts, onFalse)
      place(hasPorts)
      requireFirstFragment(onFalse: onFalse)
      emit(.loadIPv4HeaderLength(at: base))
      switch direction {
      case .source:
        emit(.load(size: BPFOpcode.halfword, indirect: base))
        branch(BPFOpcode.equal, UInt32(port), onTrue, onFalse)
      case .destination:
        emit(.load(size: BPFOpcode.halfword, indirect: base + 2))
        branch(BPFOpcode.equal, UInt32(port), onTrue, onFalse)
      case .either:
        let second = newLabel()
        emit(.load(size: BPFOpcode.halfword, indirect: base))
        branch(BPFOpcode.equal, UInt32(port), onTrue, second)
        place(second)
        emit(.load(size: BPFOpcode.halfword, indirect: base + 2))
        branch(BPFOpcode.equal, UInt32(port), onTrue, onFalse)
      }
    case .tcpFlags(let test):
      requireIPv4(onFalse: onFalse)
      let isTCP = newLabel()
      emit(.load(size: BPFOpcode.byte, absolute: base + 9))
      branch(BPFOpcode.equal, 6, isTCP, onFalse)
      place(isTCP)
      requireFirstFragment(onFalse: onFalse)
      emit(.loadIPv4HeaderLength(at: base))
      emit(.load(size: BPFOpcode.byte, indirect: base + 13))
      if test.mask != 0xFF { emit(.alu(BPFOpcode.and, UInt32(test.mask))) }
      if test.isEqual {
        branch(BPFOpcode.equal, UInt32(test.value), onTrue, onFalse)
      } else {
        branch(BPFOpcode.equal, UInt32(test.value), onFalse, onTrue)
      }
    case .and(let left, let right):
      chain(left, right, decidedBy: false, onTrue: onTrue, onFalse: onFalse)
    case .or(let left, let right):
      chain(left, right, decidedBy: true, onTrue: onTrue, onFalse: onFalse)
    case .not(let operand):
      generate(operand, onTrue: onFalse, onFalse: onTrue)
    }
  }

  /// `left and right` (`decidedBy` false: a "no" from `left` decides) or `left or right` (true:
  /// a "yes" does). The deciding outcome goes through an unconditional jump (32-bit reach) placed
  /// right after `left`, so no conditional jump (8-bit reach) has to span the rest of a long chain.
  mutating func chain(_ left: CaptureFilter, _ right: CaptureFilter, decidedBy outcome: Bool, onTrue: Int, onFalse: Int) {
    let middle = newLabel()
    let decided = newLabel()
    generate(left, onTrue: outcome ? decided : middle, onFalse: outcome ? middle : decided)
    place(decided)
    jump(outcome ? onTrue : onFalse)
    place(middle)
    generate(right, onTrue: onTrue, onFalse: onFalse)
  }

  /// Turns label references into relative jumps.
  func resolve() throws(CaptureFilterError) -> BPFProgram {
    guard !tooDeep else {
      throw CaptureFilterError(
        column: 0,
        message: "the filter nests more than \(Self.maximumDepth) levels deep (BPF holds at most \(BPFProgram.maximumLength) instructions)")
    }
    guard code.count <= BPFProgram.maximumLength else {
      throw CaptureFilterError(
        column: 0,
        message: "the filter compiles to \(code.count) instructions, over the kernel's limit of \(BPFProgram.maximumLength)")
    }
    var instructions: [BPFInstruction] = []
    instructions.reserveCapacity(code.count)
    for (index, entry) in code.enumerated() {
      var instruction = entry.instruction
      func distance(_ label: Int) -> Int { (positions[label] ?? index + 1) - (index + 1) }
      if instruction.code & 0xF0 == BPFOpcode.always && instruction.code & 0x07 == BPFOpcode.jump,
        let target = entry.ifTrue
      {
        instruction.k = UInt32(clamping: max(0, distance(target)))
      } else if let ifTrue = entry.ifTrue, let ifFalse = entry.ifFalse {
        let jumpTrue = distance(ifTrue)
        let jumpFalse = distance(ifFalse)
        guard (0...255).contains(jumpTrue), (0...255).contains(jumpFalse) else {
          throw CaptureFilterError(
            column: 0, message: "the filter is too large: a jump spans more than 255 instructions")
        }
        instruction.jumpIfTrue = UInt8(jumpTrue)
        instruction.jumpIfFalse = UInt8(jumpFalse)
      }
      instructions.append(instruction)
    }
    return BPFProgram(instructions)
  }
}

// MARK: - Capturing with a filter

extension PacketSocket {
  /// Opens a capture on `interface` with `filter` compiled for Ethernet-style frames (Ethernet,
  /// veth, `lo`) and attached before the socket is bound, so no other frame is ever queued.
  ///
  /// - Throws: `CaptureFilterError` when the filter cannot be compiled, `SocketError` otherwise.
  public convenience init(
    interface: String, captureFilter filter: CaptureFilter, ignoreOutgoing: Bool? = nil,
    snapshotLength: Int = PacketSocket.defaultSnapshotLength
  ) throws {
    let program = try filter.compile(for: .ethernet)
    try self.init(
      interface: interface, ignoreOutgoing: ignoreOutgoing, filter: program, snapshotLength: snapshotLength)
  }

  /// Replaces the socket's kernel filter with `filter` (compiled for Ethernet-style frames);
  /// frames queued before it are drained, as `attach(_:)` does.
  ///
  /// - Throws: `CaptureFilterError` when the filter cannot be compiled, `SocketError` otherwise.
  public func attach(_ filter: CaptureFilter) throws {
    try attach(try filter.compile(for: .ethernet))
  }
}
