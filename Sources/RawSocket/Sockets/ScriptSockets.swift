import CRawSocket

/// System calls as a program makes them, for the script runner: each returns the call's result or
/// its errno as a value (a script checks both), never retries, and never interprets a result.
/// Descriptors are raw `CInt`s the caller owns. Addresses are IPv4, host order.
///
/// Each wrapper's C function is the one it is named after.
public enum ScriptSockets {
  private static func result(_ value: Int) -> Result<Int, Errno> {
    value == -1 ? .failure(Errno(rawValue: system_errno())) : .success(value)
  }

  private static func withIPv4Address<R>(
    _ address: UInt32, _ port: UInt16, family: Int32 = AF_INET, _ body: (UnsafeRawPointer, socklen_t) -> R
  ) -> R {
    var socketAddress = sockaddr_in()
    socketAddress.sin_family = sa_family_t(truncatingIfNeeded: family)
    socketAddress.sin_port = port.bigEndian
    socketAddress.sin_addr.s_addr = address.bigEndian
    return withUnsafePointer(to: &socketAddress) {
      body(UnsafeRawPointer($0), socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }

  public static func socket(domain: Int32, type: Int32, protocol proto: Int32) -> Result<Int, Errno> {
    result(Int(system_socket(domain, type, proto)))
  }

  public static func bind(_ fd: Int32, address: UInt32, port: UInt16) -> Result<Int, Errno> {
    result(Int(withIPv4Address(address, port) { system_bind(fd, $0, $1) }))
  }

  public static func connect(_ fd: Int32, address: UInt32, port: UInt16) -> Result<Int, Errno> {
    result(Int(withIPv4Address(address, port) { system_connect(fd, $0, $1) }))
  }

  public static func listen(_ fd: Int32, backlog: Int32) -> Result<Int, Errno> {
    result(Int(system_listen(fd, backlog)))
  }

  public static func accept(_ fd: Int32, flags: Int32 = 0) -> Result<Int, Errno> {
    result(Int(system_accept4(fd, flags)))
  }

  /// Reads up to `count` bytes and returns how many (the bytes themselves are dropped).
  public static func read(_ fd: Int32, count: Int) -> Result<Int, Errno> {
    var buffer = [UInt8](repeating: 0, count: max(count, 0))
    return result(buffer.withUnsafeMutableBytes { system_read(fd, $0.baseAddress, count) })
  }

  public static func recv(_ fd: Int32, count: Int, flags: Int32) -> Result<Int, Errno> {
    var buffer = [UInt8](repeating: 0, count: max(count, 0))
    return result(buffer.withUnsafeMutableBytes { system_recv(fd, $0.baseAddress, count, flags) })
  }

  /// Writes `bytes` (a script's `...` payload is zeros).
  public static func write(_ fd: Int32, bytes: [UInt8]) -> Result<Int, Errno> {
    result(bytes.withUnsafeBytes { system_write(fd, $0.baseAddress, $0.count) })
  }

  public static func send(_ fd: Int32, bytes: [UInt8], flags: Int32) -> Result<Int, Errno> {
    result(bytes.withUnsafeBytes { system_send(fd, $0.baseAddress, $0.count, flags) })
  }

  /// `sendto` to an IPv4 address, or with no address (`nil`). `family` is the sockaddr's
  /// `sin_family` (scripts check the kernel's answer to `AF_UNSPEC`).
  public static func sendto(
    _ fd: Int32, bytes: [UInt8], flags: Int32, address: (UInt32, UInt16)?, family: Int32 = AF_INET
  ) -> Result<Int, Errno> {
    bytes.withUnsafeBytes { buffer in
      if let address {
        return result(withIPv4Address(address.0, address.1, family: family) {
          system_sendto(fd, buffer.baseAddress, buffer.count, flags, $0, $1)
        })
      }
      return result(system_sendto(fd, buffer.baseAddress, buffer.count, flags, nil, 0))
    }
  }

  /// The data calls with a NULL buffer pointer and a non-zero length: the kernel must refuse
  /// them with EFAULT (scripts write `write(4, NULL, 1000) = -1 EFAULT`). Nothing is dereferenced
  /// in this process.
  public enum NullBufferCall: Sendable {
    case read, recv(flags: Int32), write, send(flags: Int32)
    case sendto(flags: Int32, address: (UInt32, UInt16)?)
  }

  public static func withNullBuffer(_ fd: Int32, _ call: NullBufferCall, count: Int) -> Result<Int, Errno> {
    switch call {
    case .read: return result(system_read(fd, nil, count))
    case .recv(let flags): return result(system_recv(fd, nil, count, flags))
    case .write: return result(system_write(fd, nil, count))
    case .send(let flags): return result(system_send(fd, nil, count, flags))
    case .sendto(let flags, let address):
      if let address {
        return result(withIPv4Address(address.0, address.1) { system_sendto(fd, nil, count, flags, $0, $1) })
      }
      return result(system_sendto(fd, nil, count, flags, nil, 0))
    }
  }

  /// `sendmsg` with one iovec a length (zero bytes each), to an address or none. Each iovec
  /// gets a buffer of its own, 64 bytes from the previous one's start: as with a program's separate
  /// buffers, the kernel cannot merge neighbours into one page fragment (MSG_ZEROCOPY's frag count).
  public static func sendmsg(_ fd: Int32, lengths: [Int], flags: Int32, to address: ScriptSocketAddress?) -> Result<Int, Errno> {
    guard lengths.allSatisfy({ $0 >= 0 && $0 <= 64 << 20 }), lengths.count <= 1024, lengths.reduce(0, +) <= 64 << 20 else {
      return .failure(Errno(rawValue: EINVAL))
    }
    let stride = lengths.map { ($0 + 64) / 64 * 64 }
    var storage = [UInt8](repeating: 0, count: max(stride.reduce(0, +), 1))
    return storage.withUnsafeMutableBytes { raw -> Result<Int, Errno> in
      guard let base = raw.baseAddress else { return .failure(Errno(rawValue: EINVAL)) }
      var offset = 0
      var vectors: [iovec] = []
      for (length, step) in zip(lengths, stride) {
        vectors.append(iovec(iov_base: base + offset, iov_len: length))
        offset += step
      }
      return vectors.withUnsafeMutableBufferPointer { vectorBuffer -> Result<Int, Errno> in
        func send(_ name: UnsafeRawPointer?, _ nameLength: socklen_t) -> Int {
          var message = msghdr()
          message.msg_name = UnsafeMutableRawPointer(mutating: name)
          message.msg_namelen = nameLength
          message.msg_iov = vectorBuffer.baseAddress
          message.msg_iovlen = vectorBuffer.count
          return system_sendmsg(fd, &message, flags)
        }
        if let address { return result(withSocketAddress(address) { send($0, $1) }) }
        return result(send(nil, 0))
      }
    }
  }

  /// `recvmsg` into one buffer of `count` bytes (dropped) and a control buffer of
  /// `controlCapacity` bytes; returns the byte count, the control bytes the kernel wrote, and the
  /// message flags.
  public static func recvmsg(_ fd: Int32, count: Int, flags: Int32, controlCapacity: Int) -> Result<(Int, [UInt8], Int32), Errno> {
    var data = [UInt8](repeating: 0, count: max(count, 1))
    var control = [UInt8](repeating: 0, count: max(controlCapacity, 0))
    var message = msghdr()
    let received: Int = data.withUnsafeMutableBytes { dataBuffer in
      control.withUnsafeMutableBytes { controlBuffer in
        var vector = iovec(iov_base: dataBuffer.baseAddress, iov_len: count)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
          message.msg_iov = vectorPointer
          message.msg_iovlen = 1
          message.msg_control = controlBuffer.count > 0 ? controlBuffer.baseAddress : nil
          message.msg_controllen = controlBuffer.count
          return system_recvmsg(fd, &message, flags)
        }
      }
    }
    guard received != -1 else { return .failure(Errno(rawValue: system_errno())) }
    return .success((received, Array(control.prefix(min(Int(message.msg_controllen), control.count))), message.msg_flags))
  }

  public static func shutdown(_ fd: Int32, how: Int32) -> Result<Int, Errno> {
    result(Int(system_shutdown(fd, how)))
  }

  public static func close(_ fd: Int32) -> Result<Int, Errno> {
    result(Int(system_close(fd)))
  }

  public static func fcntl(_ fd: Int32, command: Int32, argument: Int32) -> Result<Int, Errno> {
    result(Int(system_fcntl(fd, command, argument)))
  }

  /// An ioctl whose argument is an `int` the kernel writes (SIOCINQ, SIOCOUTQ...).
  public static func ioctlInteger(_ fd: Int32, request: UInt) -> Result<(Int, Int32), Errno> {
    var value: Int32 = 0
    let status = system_ioctl(fd, request, &value)
    return status == -1 ? .failure(Errno(rawValue: system_errno())) : .success((Int(status), value))
  }

  public static var inputQueueRequest: UInt { crawsocket_siocinq() }
  public static var outputQueueRequest: UInt { crawsocket_siocoutq() }

  public static func setsockopt(_ fd: Int32, level: Int32, name: Int32, value: [UInt8]) -> Result<Int, Errno> {
    result(Int(value.withUnsafeBytes { system_setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }))
  }

  /// Returns the option's bytes (at most `capacity`).
  public static func getsockopt(_ fd: Int32, level: Int32, name: Int32, capacity: Int) -> Result<[UInt8], Errno> {
    var buffer = [UInt8](repeating: 0, count: max(capacity, 0))
    var length = socklen_t(buffer.count)
    let status = buffer.withUnsafeMutableBytes { system_getsockopt(fd, level, name, $0.baseAddress, &length) }
    guard status != -1 else { return .failure(Errno(rawValue: system_errno())) }
    return .success(Array(buffer.prefix(Int(length))))
  }

  /// Whether `fd` is a datagram socket (`SO_TYPE` is `SOCK_DGRAM`).
  public static func isDatagram(_ fd: Int32) -> Bool {
    guard case .success(let bytes) = getsockopt(fd, level: SOL_SOCKET, name: SO_TYPE, capacity: 4), bytes.count == 4 else {
      return false
    }
    return bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } == Int32(SOCK_DGRAM.rawValue)
  }

  /// `poll` over `(fd, events)` pairs; returns the count and each entry's `revents`.
  public static func poll(_ entries: [(Int32, Int16)], timeoutMilliseconds: Int32) -> Result<(Int, [Int16]), Errno> {
    var fds = entries.map { pollfd(fd: $0.0, events: $0.1, revents: 0) }
    var spare = pollfd(fd: -1, events: 0, revents: 0)
    let status = fds.withUnsafeMutableBufferPointer { buffer -> CInt in
      guard let base = buffer.baseAddress else { return system_poll(&spare, 0, timeoutMilliseconds) }
      return system_poll(base, nfds_t(buffer.count), timeoutMilliseconds)
    }
    guard status != -1 else { return .failure(Errno(rawValue: system_errno())) }
    return .success((Int(status), fds.map(\.revents)))
  }

  /// `poll` with a timeout in microseconds (`ppoll(2)`), for timelines finer than a millisecond.
  public static func poll(_ entries: [(Int32, Int16)], timeoutMicroseconds: Int64) -> Result<(Int, [Int16]), Errno> {
    var fds = entries.map { pollfd(fd: $0.0, events: $0.1, revents: 0) }
    var spare = pollfd(fd: -1, events: 0, revents: 0)
    let nanoseconds = timeoutMicroseconds < 0 ? -1 : timeoutMicroseconds * 1000
    let status = fds.withUnsafeMutableBufferPointer { buffer -> CInt in
      guard let base = buffer.baseAddress else { return system_ppoll(&spare, 0, nanoseconds) }
      return system_ppoll(base, nfds_t(buffer.count), nanoseconds)
    }
    guard status != -1 else { return .failure(Errno(rawValue: system_errno())) }
    return .success((Int(status), fds.map(\.revents)))
  }

  /// The wall clock (`CLOCK_REALTIME`) in microseconds: software timestamps the kernel reports in
  /// `SCM_TIMESTAMPING` control messages are on this clock.
  public static func realtimeMicroseconds() -> Int64 {
    var now = timespec()
    guard system_clock_gettime(realTime: true, &now) == 0 else { return 0 }
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
  }

  /// Makes the calling thread's timers precise (`prctl(PR_SET_TIMERSLACK)`; the default slack is 50 us).
  public static func setTimerSlack(nanoseconds: UInt) { _ = system_set_timer_slack(nanoseconds) }

  public static func epollCreate() -> Result<Int, Errno> { result(Int(system_epoll_create1(0))) }

  public static func epollControl(_ epfd: Int32, operation: Int32, fd: Int32, events: UInt32, data: UInt64) -> Result<Int, Errno> {
    var event = epoll_event()
    event.events = events
    event.data.u64 = data
    return result(Int(system_epoll_ctl(epfd, operation, fd, &event)))
  }

  /// Returns `(events, data)` per ready entry.
  public static func epollWait(_ epfd: Int32, capacity: Int, timeoutMilliseconds: Int32) -> Result<[(UInt32, UInt64)], Errno> {
    var events = [epoll_event](repeating: epoll_event(), count: max(capacity, 1))
    let count = events.withUnsafeMutableBufferPointer {
      system_epoll_wait(epfd, $0.baseAddress!, CInt($0.count), timeoutMilliseconds)
    }
    guard count != -1 else { return .failure(Errno(rawValue: system_errno())) }
    return .success(events.prefix(Int(count)).map { ($0.events, $0.data.u64) })
  }

  /// `open(path, flags)` for a script's `open` (sendfile tests): close-on-exec, and a symbolic
  /// link in the path's last component is refused (`O_NOFOLLOW`: ELOOP), never followed.
  public static func open(_ path: String, flags: Int32) -> Result<Int, Errno> {
    result(Int(path.withCString { system_open($0, flags | O_CLOEXEC | O_NOFOLLOW) }))
  }

  /// `sendfile(out, in, &offset, count)`; `offset` nil uses the file's position.
  public static func sendfile(_ outFD: Int32, _ inFD: Int32, offset: Int64?, count: Int) -> Result<Int, Errno> {
    guard var position = offset else { return result(system_sendfile(outFD, inFD, nil, count)) }
    return result(system_sendfile(outFD, inFD, &position, count))
  }

  /// `splice(in, NULL, out, NULL, count, flags)`.
  public static func splice(_ inFD: Int32, _ outFD: Int32, count: Int, flags: UInt32) -> Result<Int, Errno> {
    result(system_splice(inFD, outFD, count, flags))
  }

  /// A pipe (both ends close-on-exec, non-blocking when asked).
  public static func pipe(nonBlocking: Bool) -> Result<(Int32, Int32), Errno> {
    var fds: [CInt] = [-1, -1]
    let flags = O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
    guard fds.withUnsafeMutableBufferPointer({ system_pipe2($0.baseAddress!, flags) }) == 0 else {
      return .failure(Errno(rawValue: system_errno()))
    }
    return .success((fds[0], fds[1]))
  }
}
