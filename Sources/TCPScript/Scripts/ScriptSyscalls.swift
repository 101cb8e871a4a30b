import PacketKit
import RawSocket

/// What a system call did: its return value or errno, and what it wrote into the script's output
/// arguments (getsockopt's value, poll's revents...), for checking against the line.
struct CallOutcome: Sendable {
  var value: Int = 0
  var errno: Int32?
  /// Output values by name (`optval`, `optlen`, `revents.0`, `ioctl`).
  var outputs: [String: Int64] = [:]
  /// How long the call itself took (on whichever thread ran it).
  var duration: Duration = .zero
  /// The address the call returned (getsockname, getpeername; accept's peer).
  var address: ScriptSocketAddress?
}

/// A call ready to run on the worker thread, and how to check what it did.
struct PreparedCall: Sendable {
  var run: @Sendable () -> CallOutcome
  /// The call returns a new descriptor the script names by its expected result.
  var returnsDescriptor: Bool
  /// Output arguments the script wrote values for: name → expected value.
  var expectedOutputs: [String: Int64]
  /// The call can wait for the network (accept, connect, read, write...): it runs on the worker
  /// thread. The others run on the runner's own thread, with no handoff.
  var mayBlock = true
  /// A sockaddr literal the returned address must match (getsockname, getpeername, accept).
  var expectedAddress: ScriptExpression?
}

/// Turns syscall lines into calls on real sockets, with packetdrill's defaults: `...` for an
/// address means the script's own (bind: local address, port 8080; connect: remote, port 8080), a
/// `...` buffer is that many zero bytes, and script descriptor numbers map onto live ones.
struct ScriptSyscallExecutor {
  var connection: ScriptConnection
  /// Script fd → live fd.
  var descriptors: [Int64: Int32] = [:]
  var bindPort: UInt16 = 8080
  var connectPort: UInt16 = 8080
  /// The peer port of the script's UDP socket once it connected (a `...` sendto goes there).
  var udpRemotePort: UInt16?
  /// The wall clock (microseconds) at the script's time 0: `SCM_TIMESTAMPING` values are mapped
  /// onto script time with it.
  var realtimeStart: Int64 = 0
  /// Wall-clock intervals (begin, end) the script's clock stood still (commands and python
  /// blocks take no script time): a kernel timestamp after one is mapped back by its length.
  var realtimePauses: [(Int64, Int64)] = []

  /// A wall-clock time (microseconds) in script time.
  static func scriptTime(wall: Int64, start: Int64, pauses: [(Int64, Int64)]) -> Int64 {
    var time = wall - start
    for (begin, end) in pauses where begin < wall { time -= min(wall, end) - begin }
    return time
  }

  struct Unsupported: Error { var reason: String }

  // MARK: Evaluating arguments

  func integer(_ expression: ScriptExpression, _ what: String) throws(ScriptRunError) -> Int64 {
    switch expression {
    case .integer(let value): return value
    case .symbol(let name):
      if let value = ScriptConstants.values[name] { return value }
      // An errno name as a value (`ee_errno=ENOMSG`, `[ECONNREFUSED]` for SO_ERROR).
      if let value = ScriptConstants.errnos[name] { return Int64(value) }
      throw ScriptRunError("unknown name \(name) for \(what)")
    case .bitwiseOr(let left, let right): return try integer(left, what) | integer(right, what)
    case .call(let name, let arguments) where ["htons", "htonl", "ntohs", "ntohl"].contains(name) && arguments.count == 1:
      return try integer(arguments[0], what)
    case .call("inet_addr", let arguments) where arguments.count == 1:
      guard case .string(let text) = arguments[0], let address = IPv4Address(text) else {
        throw ScriptRunError("inet_addr needs a dotted IPv4 address")
      }
      return Int64(address.rawValue)
    case .list(let items) where items.count == 1: return try integer(items[0], what)
    default: throw ScriptRunError("expected a number for \(what), found \(expression)")
    }
  }

  func descriptor(_ expression: ScriptExpression) throws(ScriptRunError) -> Int32 {
    let number = try integer(expression, "a descriptor")
    if let live = descriptors[number] { return live }
    // An fd the script never opened: pass it through (scripts test EBADF this way).
    return Int32(truncatingIfNeeded: number)
  }

  /// An IPv4 socket address argument; `...` is the default for the call.
  func address(_ expression: ScriptExpression, defaultAddress: IPv4Address, defaultPort: UInt16) throws(ScriptRunError) -> (UInt32, UInt16) {
    switch expression {
    case .ellipsis: return (defaultAddress.rawValue, defaultPort)
    case .structure(let fields):
      var address = defaultAddress.rawValue
      var port = defaultPort
      for field in fields {
        switch field.name {
        case "sin_port": port = UInt16(truncatingIfNeeded: try integer(field.value, "sin_port"))
        case "sin_addr": address = UInt32(truncatingIfNeeded: try integer(field.value, "sin_addr"))
        case "sa_family", "sin_family": continue
        default: throw ScriptRunError("unsupported sockaddr field \(field.name)")
        }
      }
      return (address, port)
    default: throw ScriptRunError("expected a sockaddr ({sa_family=AF_INET, ...}) or ..., found \(expression)")
    }
  }

  /// A buffer argument: `...` is `count` zero bytes; a string is its bytes.
  func buffer(_ expression: ScriptExpression, count: Int64) throws(ScriptRunError) -> [UInt8] {
    guard count >= 0, count <= 64 << 20 else { throw ScriptRunError("buffer length \(count) out of range") }
    if case .string(let text) = expression {
      var bytes = Array(text.utf8)
      if bytes.count < Int(count) { bytes += [UInt8](repeating: 0, count: Int(count) - bytes.count) }
      return Array(bytes.prefix(Int(count)))
    }
    return [UInt8](repeating: 0, count: Int(count))
  }

  static func intBytes(_ value: Int64, size: Int) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0.prefix(size)) }
  }

  /// A setsockopt value: `[n]` an int, `{a=1, b=2}` consecutive ints (timeval fields are 64-bit),
  /// a string its bytes.
  func optionValue(_ expression: ScriptExpression, length: Int64?) throws(ScriptRunError) -> [UInt8] {
    var bytes: [UInt8]
    switch expression {
    case .string(let text): bytes = Array(text.utf8)
    case .structure(let fields):
      bytes = []
      for field in fields {
        let wide = field.name.hasPrefix("tv_")
        bytes += ScriptSyscallExecutor.intBytes(try integer(field.value, field.name), size: wide ? 8 : 4)
      }
    case .ellipsis: bytes = []
    default: bytes = ScriptSyscallExecutor.intBytes(try integer(expression, "an option value"), size: 4)
    }
    if let length, length >= 0, length <= 4096 {
      if bytes.count < Int(length) { bytes += [UInt8](repeating: 0, count: Int(length) - bytes.count) }
      bytes = Array(bytes.prefix(Int(length)))
    }
    return bytes
  }

  // MARK: Preparing calls

  func argument(_ call: ScriptSyscall, _ index: Int) throws(ScriptRunError) -> ScriptExpression {
    guard index < call.arguments.count else {
      throw ScriptRunError("\(call.name) needs at least \(index + 1) arguments")
    }
    return call.arguments[index]
  }

  /// The `iov_len` of each `{..., LEN}` in a `msg_iov` list (sendmsg, recvmsg): each is
  /// allocated, so each and their sum have the one-buffer bound of write and read (64 MiB), and
  /// there are at most 1024 of them (UIO_MAXIOV).
  func iovecLengths(_ value: ScriptExpression) throws(ScriptRunError) -> [Int] {
    guard case .list(let vectors) = value else { throw ScriptRunError("msg_iov must be a list") }
    guard vectors.count <= 1024 else { throw ScriptRunError("msg_iov with \(vectors.count) iovecs: at most 1024 (UIO_MAXIOV)") }
    var lengths: [Int] = []
    var total = 0
    for vector in vectors {
      guard case .structure(let members) = vector, members.count == 2 else { throw ScriptRunError("an iovec is {..., LEN}") }
      let length = try integer(members[1].value, "iov_len")
      guard length >= 0, length <= 64 << 20 else { throw ScriptRunError("iov_len \(length) out of range") }
      total += Int(length)
      guard total <= 64 << 20 else { throw ScriptRunError("msg_iov holds \(total) bytes or more: at most \(64 << 20) in all") }
      lengths.append(Int(length))
    }
    return lengths
  }

  static let neverBlocking: Set<String> = [
    "socket", "bind", "listen", "setsockopt", "getsockopt", "fcntl", "ioctl", "getsockname",
    "getpeername", "shutdown", "epoll_create", "epoll_create1", "epoll_ctl", "pipe",
  ]

  func prepare(_ call: ScriptSyscall) throws(ScriptRunError) -> PreparedCall {
    var prepared = try prepareCall(call)
    prepared.mayBlock = !ScriptSyscallExecutor.neverBlocking.contains(call.name)
    // poll and epoll_wait with a zero timeout cannot wait.
    let timeoutIndex = call.name == "poll" ? 2 : 3
    if call.name == "poll" || call.name == "epoll_wait", call.arguments.count > timeoutIndex,
      (try? integer(call.arguments[timeoutIndex], "timeout")) == 0
    {
      prepared.mayBlock = false
    }
    return prepared
  }

  private func prepareCall(_ call: ScriptSyscall) throws(ScriptRunError) -> PreparedCall {
    func simple(_ body: @escaping @Sendable () -> Result<Int, Errno>) -> PreparedCall {
      PreparedCall(run: { CallOutcome(result: body()) }, returnsDescriptor: false, expectedOutputs: [:])
    }
    let local = connection.localAddress
    let remote = connection.remoteAddress
    switch call.name {
    case "socket":
      // `...`: the mode's domain (AF_INET6 in ipv6 and ipv4-mapped-ipv6), as packetdrill chooses.
      let domain = try argument(call, 0) == .ellipsis
        ? connection.ipVersion.socketDomain : Int32(truncatingIfNeeded: try integer(try argument(call, 0), "domain"))
      let type = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "type"))
      let proto = Int32(truncatingIfNeeded: try integer(try argument(call, 2), "protocol"))
      guard domain == 2 || domain == 10 else { throw ScriptRunError("only AF_INET and AF_INET6 sockets are supported", unsupported: true) }
      var prepared = simple { ScriptSockets.socket(domain: domain, type: type, protocol: proto) }
      prepared.returnsDescriptor = true
      return prepared
    case "bind":
      let fd = try descriptor(try argument(call, 0))
      let address = try socketAddress(try argument(call, 1), defaultAddress: local, defaultPort: bindPort)
      return simple { ScriptSockets.bind(fd, to: address) }
    case "connect":
      let fd = try descriptor(try argument(call, 0))
      let address = try socketAddress(try argument(call, 1), defaultAddress: remote, defaultPort: connectPort)
      return simple { ScriptSockets.connect(fd, to: address) }
    case "listen":
      let fd = try descriptor(try argument(call, 0))
      let backlog = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "backlog"))
      return simple { ScriptSockets.listen(fd, backlog: backlog) }
    case "accept", "accept4":
      let fd = try descriptor(try argument(call, 0))
      let flags = call.name == "accept4" && call.arguments.count > 3
        ? Int32(truncatingIfNeeded: try integer(call.arguments[3], "flags")) : 0
      let peerWritten = call.arguments.count > 1 && call.arguments[1] != .ellipsis ? call.arguments[1] : nil
      guard peerWritten != nil else {
        var prepared = simple { ScriptSockets.accept(fd, flags: flags) }
        prepared.returnsDescriptor = true
        return prepared
      }
      // accept(3, {sockaddr}, ...): the new connection's peer is checked (read with getpeername).
      var prepared = PreparedCall(
        run: {
          var outcome = CallOutcome(result: ScriptSockets.accept(fd, flags: flags))
          if outcome.errno == nil, case .success(let peer) = ScriptSockets.socketName(Int32(truncatingIfNeeded: outcome.value), peer: true) {
            outcome.address = peer
          }
          return outcome
        }, returnsDescriptor: true, expectedOutputs: [:])
      prepared.expectedAddress = peerWritten
      return prepared
    case "read", "recv", "recvfrom":
      let fd = try descriptor(try argument(call, 0))
      let count = Int(try integer(try argument(call, 2), "count"))
      let flags = call.name == "read" ? 0 : Int32(truncatingIfNeeded: try integer(try argument(call, 3), "flags"))
      if try argument(call, 1) == .symbol("NULL") {
        // An invalid buffer pointer: the kernel answers EFAULT.
        return simple { ScriptSockets.withNullBuffer(fd, call.name == "read" ? .read : .recv(flags: flags), count: count) }
      }
      if call.name == "read" { return simple { ScriptSockets.read(fd, count: count) } }
      return simple { ScriptSockets.recv(fd, count: count, flags: flags) }
    case "write", "send", "sendto":
      let fd = try descriptor(try argument(call, 0))
      let count = try integer(try argument(call, 2), "count")
      let flags = call.name == "write" ? 0 : Int32(truncatingIfNeeded: try integer(try argument(call, 3), "flags"))
      if try argument(call, 1) == .symbol("NULL") {
        // An invalid buffer pointer: the kernel answers EFAULT (or fails the connect first).
        guard count >= 0, count <= 64 << 20 else { throw ScriptRunError("buffer length \(count) out of range") }
        let length = Int(count)
        switch call.name {
        case "write": return simple { ScriptSockets.withNullBuffer(fd, .write, count: length) }
        case "send": return simple { ScriptSockets.withNullBuffer(fd, .send(flags: flags), count: length) }
        default:
          var target: ScriptSocketAddress? = nil
          if call.arguments.count > 4, call.arguments[4] != .ellipsis {
            target = try socketAddress(call.arguments[4], defaultAddress: remote, defaultPort: connectPort)
          } else if flags & 0x2000_0000 != 0 {
            target = connection.connectAddress(port: connectPort)
          }
          let destination = target
          return simple { ScriptSockets.sendtoNullBuffer(fd, count: length, flags: flags, to: destination) }
        }
      }
      let bytes = try buffer(try argument(call, 1), count: count)
      if call.name == "write" { return simple { ScriptSockets.write(fd, bytes: bytes) } }
      if call.name == "sendto", call.arguments.count > 4, call.arguments[4] == .symbol("AF_UNSPEC") {
        // A sockaddr whose family is AF_UNSPEC (the rest zero): scripts check the kernel's refusal.
        return simple { ScriptSockets.sendto(fd, bytes: bytes, flags: flags, to: .family(0)) }
      }
      if call.name == "sendto", call.arguments.count > 4, call.arguments[4] != .ellipsis {
        let target = try socketAddress(call.arguments[4], defaultAddress: remote, defaultPort: connectPort)
        return simple { ScriptSockets.sendto(fd, bytes: bytes, flags: flags, to: target) }
      }
      if call.name == "sendto", call.arguments.count > 4, ScriptSockets.isDatagram(fd) {
        // A UDP socket's `...` destination: the script's remote end (its peer's port once connected).
        let target = connection.connectAddress(port: udpRemotePort ?? connection.remotePort)
        return simple { ScriptSockets.sendto(fd, bytes: bytes, flags: flags, to: target) }
      }
      if call.name == "sendto", flags & 0x2000_0000 != 0 {
        // MSG_FASTOPEN with `...`: the script's remote end.
        let target = connection.connectAddress(port: connectPort)
        return simple { ScriptSockets.sendto(fd, bytes: bytes, flags: flags, to: target) }
      }
      return simple { ScriptSockets.send(fd, bytes: bytes, flags: flags) }
    case "close":
      let fd = try descriptor(try argument(call, 0))
      return simple { ScriptSockets.close(fd) }
    case "shutdown":
      let fd = try descriptor(try argument(call, 0))
      let how = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "how"))
      return simple { ScriptSockets.shutdown(fd, how: how) }
    case "fcntl":
      let fd = try descriptor(try argument(call, 0))
      let command = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "command"))
      let value = call.arguments.count > 2 ? Int32(truncatingIfNeeded: try integer(call.arguments[2], "argument")) : 0
      return simple { ScriptSockets.fcntl(fd, command: command, argument: value) }
    case "ioctl":
      let fd = try descriptor(try argument(call, 0))
      let request = UInt(truncatingIfNeeded: try integer(try argument(call, 1), "request"))
      var expected: [String: Int64] = [:]
      if call.arguments.count > 2, case .list(let items) = call.arguments[2], items.count == 1, items[0] != .ellipsis {
        expected["ioctl value"] = try integer(items[0], "the ioctl value")
      }
      return PreparedCall(
        run: {
          switch ScriptSockets.ioctlInteger(fd, request: request) {
          case .success(let (status, value)): return CallOutcome(value: status, outputs: ["ioctl value": Int64(value)])
          case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
          }
        }, returnsDescriptor: false, expectedOutputs: expected)
    case "setsockopt":
      let fd = try descriptor(try argument(call, 0))
      let level = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "level"))
      let name = Int32(truncatingIfNeeded: try integer(try argument(call, 2), "option name"))
      let lengthExpression = call.arguments.count > 4 ? call.arguments[4] : .ellipsis
      let length: Int64? = lengthExpression == .ellipsis ? nil : try integer(lengthExpression, "option length")
      let value = try optionValue(try argument(call, 3), length: length)
      return simple { ScriptSockets.setsockopt(fd, level: level, name: name, value: value) }
    case "getsockopt":
      let fd = try descriptor(try argument(call, 0))
      let level = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "level"))
      let name = Int32(truncatingIfNeeded: try integer(try argument(call, 2), "option name"))
      var expected: [String: Int64] = [:]
      var capacity = 4
      if call.arguments.count > 4, call.arguments[4] != .ellipsis {
        let length = try integer(call.arguments[4], "option length")
        expected["optlen"] = length
        capacity = Int(max(0, min(length, 4096)))
      }
      if call.arguments.count > 3, call.arguments[3] != .ellipsis {
        switch call.arguments[3] {
        case .list(let items) where items.count == 1 && items[0] != .ellipsis:
          expected["optval"] = try integer(items[0], "the option value")
        case .integer, .symbol, .bitwiseOr: expected["optval"] = try integer(call.arguments[3], "the option value")
        case .list: break
        default: throw ScriptRunError("unsupported getsockopt value \(call.arguments[3])")
        }
      }
      let size = max(capacity, 4)
      return PreparedCall(
        run: {
          switch ScriptSockets.getsockopt(fd, level: level, name: name, capacity: size) {
          case .success(let bytes):
            var value: Int64 = 0
            for (shift, byte) in bytes.prefix(4).enumerated() { value |= Int64(byte) << (8 * shift) }
            if bytes.count >= 4 { value = Int64(Int32(truncatingIfNeeded: value)) }
            return CallOutcome(value: 0, outputs: ["optval": value, "optlen": Int64(bytes.count)])
          case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
          }
        }, returnsDescriptor: false, expectedOutputs: expected)
    case "getsockname", "getpeername":
      let fd = try descriptor(try argument(call, 0))
      let peer = call.name == "getpeername"
      var prepared = PreparedCall(
        run: {
          switch ScriptSockets.socketName(fd, peer: peer) {
          case .success(let address): return CallOutcome(value: 0, address: address)
          case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
          }
        }, returnsDescriptor: false, expectedOutputs: [:])
      // getsockname(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.168.0.1")}, [16]):
      // the address is checked as the mode reads it (see ScriptSyscallExecutor.sockaddrMismatch).
      if call.arguments.count > 1, case .structure = call.arguments[1] { prepared.expectedAddress = call.arguments[1] }
      return prepared
    case "poll":
      guard case .list(let items) = try argument(call, 0) else { throw ScriptRunError("poll needs a [{fd=..., events=...}] list") }
      var entries: [(Int32, Int16)] = []
      var expected: [String: Int64] = [:]
      for (index, item) in items.enumerated() {
        guard case .structure(let fields) = item else { throw ScriptRunError("poll entries are {fd=N, events=...}") }
        var fd: Int32 = -1
        var events: Int16 = 0
        for field in fields {
          switch field.name {
          case "fd": fd = try descriptor(field.value)
          case "events": events = Int16(truncatingIfNeeded: try integer(field.value, "events"))
          case "revents": expected["revents.\(index)"] = try integer(field.value, "revents")
          default: throw ScriptRunError("unknown pollfd field \(field.name)")
          }
        }
        entries.append((fd, events))
      }
      let timeout = Int32(truncatingIfNeeded: try integer(try argument(call, 2), "timeout"))
      let pollEntries = entries.map { PollEntry(fd: $0.0, events: $0.1) }
      return PreparedCall(
        run: {
          switch ScriptSockets.poll(pollEntries.map { ($0.fd, $0.events) }, timeoutMilliseconds: timeout) {
          case .success(let (count, revents)):
            var outputs: [String: Int64] = [:]
            for (index, value) in revents.enumerated() { outputs["revents.\(index)"] = Int64(UInt16(bitPattern: value)) }
            return CallOutcome(value: count, outputs: outputs)
          case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
          }
        }, returnsDescriptor: false, expectedOutputs: expected)
    case "sendmsg":
      // sendmsg(fd, {msg_name(...)=..., msg_iov(N)=[{..., LEN}...], msg_flags=0}, flags)
      let fd = try descriptor(try argument(call, 0))
      guard case .structure(let fields) = try argument(call, 1) else {
        throw ScriptRunError("sendmsg needs a msghdr {msg_name(...)=..., msg_iov(N)=[...], msg_flags=...}")
      }
      var lengths: [Int] = []
      for field in fields {
        switch field.name {
        case "msg_iov":
          lengths += try iovecLengths(field.value)
        case "msg_control":
          if field.value != .ellipsis, field.value != .list([]) {
            throw ScriptRunError("sendmsg with control messages is not supported yet", unsupported: true)
          }
        default: continue
        }
      }
      let flags = Int32(truncatingIfNeeded: try integer(try argument(call, 2), "flags"))
      // The iovecs as written, each a buffer of its own (MSG_ZEROCOPY makes a page fragment of each).
      let vectors = lengths
      let target: ScriptSocketAddress? = flags & 0x2000_0000 != 0 ? connection.connectAddress(port: connectPort) : nil
      return simple { ScriptSockets.sendmsg(fd, lengths: vectors, flags: flags, to: target) }
    case "recvmsg":
      return try prepareRecvmsg(call)
    case "open":
      guard case .string(let path) = try argument(call, 0) else { throw ScriptRunError("open needs a path string") }
      let flags = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "flags"))
      var prepared = simple { ScriptSockets.open(path, flags: flags) }
      prepared.returnsDescriptor = true
      return prepared
    case "sendfile":
      let out = try descriptor(try argument(call, 0))
      let input = try descriptor(try argument(call, 1))
      let offsetArgument = try argument(call, 2)
      let offset: Int64? = offsetArgument == .symbol("NULL") ? nil : try integer(offsetArgument, "offset")
      let count = try integer(try argument(call, 3), "count")
      guard count >= 0, count <= 64 << 20 else { throw ScriptRunError("sendfile count \(count) out of range") }
      return simple { ScriptSockets.sendfile(out, input, offset: offset, count: Int(count)) }
    case "splice":
      // splice(in, NULL, out, NULL, count, flags): offsets are for files, scripts splice sockets and pipes.
      let input = try descriptor(try argument(call, 0))
      let out = try descriptor(try argument(call, 2))
      guard try argument(call, 1) == .symbol("NULL"), try argument(call, 3) == .symbol("NULL") else {
        throw ScriptRunError("splice with offsets is not supported yet", unsupported: true)
      }
      let count = try integer(try argument(call, 4), "count")
      guard count >= 0, count <= 64 << 20 else { throw ScriptRunError("splice count \(count) out of range") }
      let flags = UInt32(truncatingIfNeeded: try integer(try argument(call, 5), "flags"))
      return simple { ScriptSockets.splice(input, out, count: Int(count), flags: flags) }
    case "pipe":
      // pipe([R, W]) = 0: the script's R and W name the live ends (see the runner's mapping).
      guard case .list(let ends) = try argument(call, 0), ends.count == 2 else { throw ScriptRunError("pipe needs [read fd, write fd]") }
      return PreparedCall(
        run: {
          switch ScriptSockets.pipe(nonBlocking: false) {
          case .success(let (read, write)): return CallOutcome(value: 0, outputs: ["pipe fd 0": Int64(read), "pipe fd 1": Int64(write)])
          case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
          }
        }, returnsDescriptor: false, expectedOutputs: [:])
    case "epoll_create", "epoll_create1":
      var prepared = simple { ScriptSockets.epollCreate() }
      prepared.returnsDescriptor = true
      return prepared
    case "epoll_ctl":
      let epfd = try descriptor(try argument(call, 0))
      let operation = Int32(truncatingIfNeeded: try integer(try argument(call, 1), "operation"))
      let fd = try descriptor(try argument(call, 2))
      var events: UInt32 = 0
      var data: UInt64 = 0
      if case .structure(let fields) = try argument(call, 3) {
        for field in fields {
          switch field.name {
          case "events": events = UInt32(truncatingIfNeeded: try integer(field.value, "events"))
          case "fd", "ptr", "u32", "u64": data = UInt64(truncatingIfNeeded: try integer(field.value, field.name))
          default: throw ScriptRunError("unknown epoll_event field \(field.name)")
          }
        }
      }
      let (wanted, tag) = (events, data)
      return simple { ScriptSockets.epollControl(epfd, operation: operation, fd: fd, events: wanted, data: tag) }
    case "epoll_wait":
      let epfd = try descriptor(try argument(call, 0))
      var expected: [String: Int64] = [:]
      var entries: [ScriptExpression] = []
      switch try argument(call, 1) {
      case .structure: entries = [try argument(call, 1)]
      case .list(let items): entries = items
      default: break
      }
      for (index, entry) in entries.enumerated() {
        guard case .structure(let fields) = entry else { continue }
        for field in fields {
          switch field.name {
          case "events": expected["events.\(index)"] = try integer(field.value, "events")
          case "fd", "ptr", "u32", "u64": expected["data.\(index)"] = try integer(field.value, field.name)
          default: throw ScriptRunError("unknown epoll_event field \(field.name)")
          }
        }
      }
      let capacity = Int(try integer(try argument(call, 2), "maxevents"))
      let written = entries.count
      let timeout = Int32(truncatingIfNeeded: try integer(try argument(call, 3), "timeout"))
      return PreparedCall(
        run: {
          switch ScriptSockets.epollWait(epfd, capacity: max(1, min(capacity, 64)), timeoutMilliseconds: timeout) {
          case .success(let ready):
            var outputs: [String: Int64] = [:]
            // Entries the kernel did not fill read as zero, as the script's buffer would.
            for index in 0..<written {
              outputs["events.\(index)"] = index < ready.count ? Int64(ready[index].0) : 0
              outputs["data.\(index)"] = index < ready.count ? Int64(truncatingIfNeeded: ready[index].1) : 0
            }
            return CallOutcome(value: ready.count, outputs: outputs)
          case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
          }
        }, returnsDescriptor: false, expectedOutputs: expected)
    default:
      throw ScriptRunError("system call \(call.name) is not supported yet", unsupported: true)
    }
  }
}

extension ScriptSyscallExecutor {
  /// The fields of `struct sock_extended_err` (linux/errqueue.h): name, offset, size.
  static let extendedErrorFields: [(String, Int, Int)] = [
    ("ee_errno", 0, 4), ("ee_origin", 4, 1), ("ee_type", 5, 1), ("ee_code", 6, 1), ("ee_pad", 7, 1),
    ("ee_info", 8, 4), ("ee_data", 12, 4),
  ]

  /// recvmsg(fd, {msg_name(...)=..., msg_iov(1)=[{..., N}], msg_flags=F, msg_control=[...]}, flags):
  /// the byte count, the returned msg_flags and each control message (level, type, and data as an
  /// int or a sock_extended_err) are checked.
  func prepareRecvmsg(_ call: ScriptSyscall) throws(ScriptRunError) -> PreparedCall {
    let fd = try descriptor(try argument(call, 0))
    guard case .structure(let fields) = try argument(call, 1) else {
      throw ScriptRunError("recvmsg needs a msghdr {msg_name(...)=..., msg_iov(N)=[...], msg_flags=..., msg_control=[...]}")
    }
    let flags = Int32(truncatingIfNeeded: try integer(try argument(call, 2), "flags"))
    var count: Int64 = 0
    var expected: [String: Int64] = [:]
    for field in fields {
      switch field.name {
      case "msg_iov":
        count = Int64(try iovecLengths(field.value).reduce(0, +))
      case "msg_flags":
        if field.value != .ellipsis { expected["msg_flags"] = try integer(field.value, "msg_flags") }
      case "msg_control":
        guard field.value != .ellipsis else { continue }
        guard case .list(let messages) = field.value else { throw ScriptRunError("msg_control must be a list of cmsgs") }
        expected["cmsg count"] = Int64(messages.count)
        for (index, message) in messages.enumerated() {
          guard case .structure(let members) = message else { throw ScriptRunError("a cmsg is {cmsg_level=..., cmsg_type=..., cmsg_data=...}") }
          for member in members {
            switch member.name {
            case "cmsg_level": expected["cmsg \(index) level"] = try integer(member.value, "cmsg_level")
            case "cmsg_type": expected["cmsg \(index) type"] = try integer(member.value, "cmsg_type")
            case "cmsg_data":
              if case .structure(let data) = member.value, data.map(\.name) == ["scm_sec", "scm_nsec"] {
                // struct scm_timestamping's first (software) timestamp, in script time; zero
                // means "not checked", as in packetdrill.
                let (seconds, overflow) = try integer(data[0].value, "scm_sec").multipliedReportingOverflow(by: 1_000_000)
                let (microseconds, sumOverflow) = seconds.addingReportingOverflow(try integer(data[1].value, "scm_nsec") / 1000)
                guard !overflow, !sumOverflow else { throw ScriptRunError("scm_sec and scm_nsec out of range") }
                if microseconds != 0 { expected["cmsg \(index) scm_time"] = microseconds }
              } else if case .structure(let data) = member.value {
                for item in data {
                  guard ScriptSyscallExecutor.extendedErrorFields.contains(where: { $0.0 == item.name }) else {
                    throw ScriptRunError("control message data {\(item.name)=...} is not supported yet", unsupported: true)
                  }
                  expected["cmsg \(index) \(item.name)"] = try integer(item.value, item.name)
                }
              } else if member.value != .ellipsis {
                expected["cmsg \(index) data"] = try integer(member.value, "cmsg_data")
              }
            default: throw ScriptRunError("unknown cmsg field \(member.name)")
            }
          }
        }
      default: continue
      }
    }
    let size = Int(max(0, min(count, 64 << 20)))
    let realtimeStart = self.realtimeStart
    let pauses = self.realtimePauses
    return PreparedCall(
      run: {
        switch ScriptSockets.recvmsg(fd, count: size, flags: flags, controlCapacity: 1024) {
        case .success(let (received, control, messageFlags)):
          var outputs: [String: Int64] = ["msg_flags": Int64(messageFlags)]
          var offset = 0
          var index = 0
          func read(_ at: Int, _ width: Int) -> Int64 {
            guard at + width <= control.count else { return -1 }
            var value: UInt64 = 0
            for byte in 0..<width { value |= UInt64(control[at + byte]) << (8 * byte) }
            return width == 4 ? Int64(Int32(truncatingIfNeeded: value)) : Int64(value)
          }
          while offset + 16 <= control.count {
            let length = Int(read(offset, 8))
            guard length >= 16, offset + length <= control.count else { break }
            outputs["cmsg \(index) level"] = read(offset + 8, 4)
            outputs["cmsg \(index) type"] = read(offset + 12, 4)
            outputs["cmsg \(index) data"] = read(offset + 16, 4)
            for (name, at, width) in ScriptSyscallExecutor.extendedErrorFields {
              outputs["cmsg \(index) \(name)"] = read(offset + 16 + at, width)
            }
            if outputs["cmsg \(index) level"] == 1, outputs["cmsg \(index) type"] == 37, length >= 16 + 16 {
              // SOL_SOCKET / SCM_TIMESTAMPING: ts[0] (tv_sec, tv_nsec), wall clock → script time.
              let wall = read(offset + 16, 8) &* 1_000_000 &+ read(offset + 24, 8) / 1000
              outputs["cmsg \(index) scm_time"] = ScriptSyscallExecutor.scriptTime(wall: wall, start: realtimeStart, pauses: pauses)
            }
            index += 1
            offset += (length + 7) & ~7
          }
          outputs["cmsg count"] = Int64(index)
          return CallOutcome(value: received, outputs: outputs)
        case .failure(let error): return CallOutcome(value: -1, errno: error.rawValue)
        }
      }, returnsDescriptor: false, expectedOutputs: expected)
  }
}

struct PollEntry: Sendable {
  var fd: Int32
  var events: Int16
}

extension CallOutcome {
  init(result: Result<Int, Errno>) {
    switch result {
    case .success(let value): self.init(value: value)
    case .failure(let error): self.init(value: -1, errno: error.rawValue)
    }
  }
}
