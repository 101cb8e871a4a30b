import CRawSocket

extension SocketDescriptor {
  /// Binds the socket to an address (`sockaddr_in`, `sockaddr_ll`, ... as raw bytes).
  ///
  /// The corresponding C function is `bind(2)`.
  public func bind(address: UnsafeRawBufferPointer) throws(Errno) {
    guard let base = address.baseAddress else { throw .invalidArgument }
    _ = try valueOrErrno(retryOnInterrupt: false) {
      system_bind(rawValue, base, socklen_t(truncatingIfNeeded: address.count))
    }.get()
  }

  /// Sends `bytes` as one datagram, to `address` (raw `sockaddr` bytes) or, when `nil`, to the
  /// connected or bound peer.
  ///
  /// - Returns: the number of bytes sent, or `nil` when a non-blocking socket would block.
  /// - Throws: `Errno`.
  ///
  /// The corresponding C function is `sendto(2)`.
  public func send(
    _ bytes: UnsafeRawBufferPointer, to address: UnsafeRawBufferPointer?, flags: CInt = 0,
    retryOnInterrupt: Bool = true
  ) throws(Errno) -> Int? {
    let result = valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
      system_sendto(
        rawValue, bytes.baseAddress, bytes.count, flags | CInt(MSG_NOSIGNAL),
        address?.baseAddress, socklen_t(truncatingIfNeeded: address?.count ?? 0))
    }
    switch result {
    case .success(let count): return count
    case .failure(let error) where error == .resourceTemporarilyUnavailable: return nil
    case .failure(let error): throw error
    }
  }

  /// Receives one datagram into `buffer`.
  ///
  /// - Returns: the datagram's length (larger than `buffer.count` with `MSG_TRUNC` when it did not
  ///   fit), or `nil` when a non-blocking receive (`MSG_DONTWAIT`) finds nothing.
  /// - Throws: `Errno`.
  ///
  /// The corresponding C function is `recv(2)`.
  public func receive(
    into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0, retryOnInterrupt: Bool = true
  ) throws(Errno) -> Int? {
    let result = valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
      system_recv(rawValue, buffer.baseAddress, buffer.count, flags)
    }
    switch result {
    case .success(let count): return count
    case .failure(let error) where error == .resourceTemporarilyUnavailable: return nil
    case .failure(let error): throw error
    }
  }

  /// Receives one datagram with its address and control messages into `message`.
  ///
  /// - Returns: the datagram's length, or `nil` when a non-blocking receive finds nothing.
  /// - Throws: `Errno`.
  ///
  /// The corresponding C function is `recvmsg(2)`.
  public func receiveMessage(
    _ message: UnsafeMutablePointer<msghdr>, flags: CInt = 0, retryOnInterrupt: Bool = true
  ) throws(Errno) -> Int? {
    let result = valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
      system_recvmsg(rawValue, message, flags)
    }
    switch result {
    case .success(let count): return count
    case .failure(let error) where error == .resourceTemporarilyUnavailable: return nil
    case .failure(let error): throw error
    }
  }

  /// Sends up to `count` prepared messages in one system call.
  ///
  /// - Returns: how many messages the kernel took (at least 1); each message's `msg_len` holds
  ///   the bytes sent. `nil` when a non-blocking socket would block.
  /// - Throws: `Errno` when the first message fails.
  ///
  /// The corresponding C function is `sendmmsg(2)`.
  public func sendMessages(
    _ messages: UnsafeMutablePointer<crawsocket_mmsghdr>, count: Int, flags: CInt = 0,
    retryOnInterrupt: Bool = true
  ) throws(Errno) -> Int? {
    let result = valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
      system_sendmmsg(
        rawValue, messages, CUnsignedInt(truncatingIfNeeded: count), flags | CInt(MSG_NOSIGNAL))
    }
    switch result {
    case .success(let sent): return Int(sent)
    case .failure(let error) where error == .resourceTemporarilyUnavailable: return nil
    case .failure(let error): throw error
    }
  }
}

extension SocketDescriptor {
  /// Marks a stream socket as accepting connections, with a queue of `backlog` pending ones.
  ///
  /// The corresponding C function is `listen(2)`.
  public func listen(backlog: CInt) throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: false) { system_listen(rawValue, backlog) }.get()
  }

  /// Accepts a pending connection (close-on-exec), retrying `EINTR`.
  ///
  /// - Returns: the connection, or `nil` when a non-blocking socket has none pending.
  ///
  /// The corresponding C function is `accept4(2)` with `SOCK_CLOEXEC`.
  public func accept() throws(Errno) -> SocketDescriptor? {
    switch valueOrErrno(retryOnInterrupt: true, { system_accept4(rawValue, CInt(SOCK_CLOEXEC.rawValue)) }) {
    case .success(let fd): return SocketDescriptor(rawValue: fd)
    case .failure(let error) where error == .resourceTemporarilyUnavailable: return nil
    case .failure(let error): throw error
    }
  }

  /// The IPv4 address and port the socket is bound to (host byte order).
  ///
  /// The corresponding C function is `getsockname(2)`.
  public func localIPv4Address() throws(Errno) -> (address: UInt32, port: UInt16) {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = try valueOrErrno(retryOnInterrupt: false) {
      withUnsafeMutableBytes(of: &address) { raw in system_getsockname(rawValue, raw.baseAddress!, &length) }
    }.get()
    guard address.sin_family == sa_family_t(AF_INET) else { throw Errno(rawValue: EAFNOSUPPORT) }
    return (UInt32(bigEndian: address.sin_addr.s_addr), UInt16(bigEndian: address.sin_port))
  }
}
