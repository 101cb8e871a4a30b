// NetlinkSocket: an AF_NETLINK socket with bounded request/acknowledgement and dump handling.
import CRawSocket
import Synchronization

/// A netlink protocol (the third argument of `socket(AF_NETLINK, SOCK_RAW, protocol)`).
public struct NetlinkProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: CInt
  public init(rawValue: CInt) { self.rawValue = rawValue }

  /// Routes, links, addresses, neighbours. The corresponding C constant is `NETLINK_ROUTE`.
  public static let route = NetlinkProtocol(rawValue: 0)
  /// Socket monitoring (`inet_diag`). The corresponding C constant is `NETLINK_SOCK_DIAG`.
  public static let sockDiag = NetlinkProtocol(rawValue: 4)
  /// Netfilter subsystems, nf_tables among them. The corresponding C constant is
  /// `NETLINK_NETFILTER`.
  public static let netfilter = NetlinkProtocol(rawValue: 12)

  public var description: String {
    switch rawValue {
    case 0: "NETLINK_ROUTE"
    case 4: "NETLINK_SOCK_DIAG"
    case 12: "NETLINK_NETFILTER"
    default: "netlink protocol \(rawValue)"
    }
  }
}

/// What can go wrong talking netlink.
public enum NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
  /// A system call failed (`socket`, `bind`, `sendto`, `recv`, `poll`).
  case system(Errno, call: String)
  /// The kernel answered a request with `NLMSG_ERROR`; `message` is its extended-ack text.
  case kernel(Errno, message: String?)
  /// No complete answer before the deadline (milliseconds waited).
  case timedOut(milliseconds: Int)
  /// The kernel's answer could not be read (a truncated datagram, an impossible length).
  case malformedReply(String)
  /// The socket was closed.
  case closed
  /// The kernel refused for lack of a capability (`EPERM`): `capability` is e.g.
  /// `CAP_NET_ADMIN`, `purpose` says what needed it ("install the RST guard").
  case missingCapability(capability: String, purpose: String)

  /// The errno behind a `.system` or `.kernel` error.
  public var errno: Errno? {
    switch self {
    case .system(let errno, _), .kernel(let errno, _): errno
    case .missingCapability: .notPermitted
    default: nil
    }
  }

  public var description: String {
    switch self {
    case .system(let errno, let call): "\(call) failed: \(errno)"
    case .kernel(let errno, let message):
      "the kernel refused the netlink request: \(errno)" + (message.map { " (\($0))" } ?? "")
    case .timedOut(let milliseconds): "no netlink answer within \(milliseconds) ms"
    case .malformedReply(let text): "malformed netlink reply: \(text)"
    case .closed: "the netlink socket is closed"
    case .missingCapability(let capability, let purpose):
      "tcpcraft needs \(capability) to \(purpose): run it with sudo, or grant it once with "
        + "`sudo setcap cap_net_raw,cap_net_admin+ep <binary>`"
    }
  }
}

/// An `AF_NETLINK` socket bound to a kernel-assigned port id.
///
/// Owns its descriptor: `close()` or deinitialisation closes it. Every receive waits at most
/// `timeout` (by `poll`), so no call blocks forever. Requests on one socket are serialised by a
/// lock, so the socket may be shared between threads.
public final class NetlinkSocket: Sendable {
  private struct State {
    var descriptor: SocketDescriptor?
    var sequence: UInt32
  }
  private let state: Mutex<State>

  /// The protocol this socket speaks.
  public let netlinkProtocol: NetlinkProtocol
  /// The port id the kernel assigned at bind time (`nl_pid`); owner nf_tables tables belong to it.
  public let portID: UInt32
  /// The longest wait for one answer (each `recv` of a request or dump).
  public let timeout: Duration

  /// The biggest datagram we accept; the kernel's dumps fit 32 KiB datagrams.
  static let receiveBufferSize = 65536

  /// Opens and binds a netlink socket.
  ///
  /// - Throws: `.system(_, call: "socket")` (e.g. `EPROTONOSUPPORT` when the kernel lacks the
  ///   protocol) or `.system(_, call: "bind")`.
  public init(_ netlinkProtocol: NetlinkProtocol, timeout: Duration = .seconds(2)) throws(NetlinkError) {
    let descriptor: SocketDescriptor
    do {
      descriptor = try SocketDescriptor.open(
        domain: AF_NETLINK, type: CInt(SOCK_RAW.rawValue), protocol: netlinkProtocol.rawValue)
    } catch { throw .system(error, call: "socket") }
    var address = sockaddr_nl()
    address.nl_family = sa_family_t(AF_NETLINK)
    if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_netlinkBind(descriptor.rawValue, &address) }) {
      try? descriptor.close()
      throw .system(errno, call: "bind")
    }
    var bound = sockaddr_nl()
    if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_netlinkGetsockname(descriptor.rawValue, &bound) }) {
      try? descriptor.close()
      throw .system(errno, call: "getsockname")
    }
    // Shorter errors (no echoed request) with the kernel's explanation text, where supported.
    try? descriptor.setOption(level: SOL_NETLINK, name: NETLINK_CAP_ACK, value: CInt(1))
    try? descriptor.setOption(level: SOL_NETLINK, name: NETLINK_EXT_ACK, value: CInt(1))
    self.netlinkProtocol = netlinkProtocol
    self.portID = bound.nl_pid
    self.timeout = timeout
    // A sequence start that differs between sockets makes stray answers easy to tell apart.
    let start = UInt32(truncatingIfNeeded: system_netlinkMonotonicNanoseconds() / 1000)
    self.state = Mutex(State(descriptor: descriptor, sequence: start))
  }

  deinit {
    close()
  }

  /// Whether `close()` has not been called yet.
  public var isOpen: Bool { state.withLock { $0.descriptor != nil } }

  /// The descriptor, while open (for `poll` or inspection; do not close it yourself).
  public var descriptor: SocketDescriptor? { state.withLock { $0.descriptor } }

  /// Closes the socket. Owner nf_tables tables held by it disappear. Safe to call twice.
  public func close() {
    let descriptor = state.withLock { state -> SocketDescriptor? in
      defer { state.descriptor = nil }
      return state.descriptor
    }
    try? descriptor?.close()
  }

  /// Sends one request and collects the answer: the reply messages (for a GET), or nothing (for
  /// a request with `.acknowledge`, once its acknowledgement arrives).
  ///
  /// - Throws: `.kernel` for an `NLMSG_ERROR` with a non-zero error, `.timedOut`, `.system`.
  public func request(_ message: NetlinkMessageBuilder) throws(NetlinkError) -> [NetlinkMessage] {
    try exchange([message], dump: message.flags.contains(.dump))
  }

  /// Sends a dump request (`NLM_F_DUMP` is added) and collects every message up to `NLMSG_DONE`.
  ///
  /// A dump the kernel marks inconsistent (`NLM_F_DUMP_INTR`: the table changed meanwhile) is
  /// asked again, up to three times; the last answer is returned either way.
  public func dump(_ message: NetlinkMessageBuilder) throws(NetlinkError) -> [NetlinkMessage] {
    var message = message
    message.flags.formUnion(.dump)
    var replies = try exchange([message], dump: true)
    for _ in 0..<3 where replies.contains(where: { $0.flags.contains(.dumpInterrupted) }) {
      replies = try exchange([message], dump: true)
    }
    return replies
  }

  /// Sends several messages in one datagram (an nfnetlink batch) and waits until every message
  /// that asked for `.acknowledge` is acknowledged.
  ///
  /// - Throws: `.kernel` with the first error the kernel reports (the batch is then aborted).
  public func sendBatch(_ messages: [NetlinkMessageBuilder]) throws(NetlinkError) {
    _ = try exchange(messages, dump: false)
  }

  private func exchange(_ messages: [NetlinkMessageBuilder], dump: Bool) throws(NetlinkError) -> [NetlinkMessage] {
    let result: Result<[NetlinkMessage], NetlinkError> = state.withLock { state in
      guard let descriptor = state.descriptor else { return .failure(.closed) }
      var datagram: [UInt8] = []
      var waiting: Set<UInt32> = []
      var wantsAck: Set<UInt32> = []
      var sent: Set<UInt32> = []
      for message in messages {
        state.sequence &+= 1
        sent.insert(state.sequence)
        if message.flags.contains(.acknowledge) { wantsAck.insert(state.sequence) }
        datagram.append(contentsOf: message.finalize(sequence: state.sequence, portID: portID))
        if message.flags.contains(.acknowledge) || messages.count == 1 { waiting.insert(state.sequence) }
      }
      do throws(NetlinkError) {
        try send(descriptor, datagram)
        return .success(try collect(descriptor, waiting: waiting, wantsAck: wantsAck, sent: sent, dump: dump))
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  private func send(_ descriptor: SocketDescriptor, _ datagram: [UInt8]) throws(NetlinkError) {
    var kernel = sockaddr_nl()
    kernel.nl_family = sa_family_t(AF_NETLINK)
    let sent = datagram.withUnsafeBytes { bytes in
      valueOrErrno(retryOnInterrupt: true) {
        system_netlinkSendto(descriptor.rawValue, bytes, 0, &kernel)
      }
    }
    switch sent {
    case .failure(let errno): throw .system(errno, call: "sendto")
    case .success(let count) where count != datagram.count:
      throw .malformedReply("sendto sent \(count) of \(datagram.count) bytes")
    case .success: break
    }
  }

  /// Receives until every sequence in `waiting` is answered (acknowledgement or error, or for a
  /// GET its reply), or for a dump until `NLMSG_DONE`.
  private func collect(
    _ descriptor: SocketDescriptor, waiting: Set<UInt32>, wantsAck: Set<UInt32>,
    sent: Set<UInt32>, dump: Bool
  ) throws(NetlinkError) -> [NetlinkMessage] {
    var waiting = waiting
    var replies: [NetlinkMessage] = []
    var buffer = [UInt8](repeating: 0, count: Self.receiveBufferSize)
    // Clamped to a day: a wait longer than that is a mistake, and the arithmetic must not trap.
    let (seconds, attoseconds) = timeout.components
    let timeoutMilliseconds = Int(Swift.min(Swift.max(seconds, 0), 86_400)) * 1000
      + Int(Swift.max(attoseconds, 0) / 1_000_000_000_000_000)
    let deadline = system_netlinkMonotonicNanoseconds() &+ UInt64(max(0, timeoutMilliseconds)) &* 1_000_000
    // Bounded: at most one datagram per poll, and the deadline caps the total wait.
    for _ in 0..<1_000_000 {
      if waiting.isEmpty { return replies }
      let now = system_netlinkMonotonicNanoseconds()
      guard now < deadline else { throw .timedOut(milliseconds: timeoutMilliseconds) }
      let remaining = CInt(clamping: (deadline - now + 999_999) / 1_000_000)
      let ready = valueOrErrno(retryOnInterrupt: true) {
        system_netlinkPoll(descriptor.rawValue, Int16(POLLIN), remaining)
      }
      switch ready {
      case .failure(let errno): throw .system(errno, call: "poll")
      case .success(0): continue
      case .success: break
      }
      let received = buffer.withUnsafeMutableBytes { raw in
        valueOrErrno(retryOnInterrupt: true) {
          system_netlinkRecv(descriptor.rawValue, raw, CInt(MSG_DONTWAIT) | CInt(MSG_TRUNC))
        }
      }
      let count: Int
      switch received {
      case .failure(let errno) where errno == .resourceTemporarilyUnavailable: continue
      case .failure(let errno): throw .system(errno, call: "recv")
      case .success(let value): count = value
      }
      guard count <= buffer.count else {
        throw .malformedReply("a \(count)-byte datagram did not fit the \(buffer.count)-byte buffer")
      }
      let (messages, problem) = NetlinkMessage.parse(Array(buffer[0..<count])[...])
      if let problem { throw .malformedReply(problem) }
      for message in messages {
        // Answers to other requests (e.g. late ones after a timeout) are skipped.
        guard message.portID == portID || message.portID == 0 else { continue }
        switch message.type {
        case NetlinkControlType.error:
          let sequence = message.sequence
          guard let errorNumber = message.errorNumber else {
            throw .malformedReply("short NLMSG_ERROR")
          }
          if errorNumber != 0 {
            // Any message of this exchange, asked for an ack or not: nfnetlink refuses a whole
            // batch (e.g. EPERM without CAP_NET_ADMIN) by answering its first message.
            guard waiting.contains(sequence) || sent.contains(sequence) else { continue }
            throw .kernel(Errno(rawValue: errorNumber), message: message.extendedAckMessage)
          }
          waiting.remove(sequence)
        case NetlinkControlType.done:
          guard waiting.contains(message.sequence) else { continue }
          // NLMSG_DONE carries an int: a negative errno when the dump failed.
          if let value = message.payload.loadNative(Int32.self, at: message.payload.startIndex), value < 0 {
            throw .kernel(Errno(rawValue: -value), message: nil)
          }
          waiting.remove(message.sequence)
        case NetlinkControlType.noop, NetlinkControlType.overrun:
          continue
        default:
          guard waiting.contains(message.sequence) else { continue }
          replies.append(message)
          // A single (non-multipart) reply answers a GET that did not ask for an ack.
          if !dump, !message.flags.contains(.multipart), !wantsAck.contains(message.sequence) {
            waiting.remove(message.sequence)
          }
        }
      }
    }
    throw .timedOut(milliseconds: timeoutMilliseconds)
  }
}
