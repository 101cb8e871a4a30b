import CRawSocket

/// A link-layer capture and send socket bound to one interface:
/// `socket(AF_PACKET, SOCK_RAW, 0)`, then `bind` to the interface and protocol.
///
/// - Capture: `receive(timeout:)` waits with `poll(2)` (never forever) and returns each frame
///   with its kernel timestamp, packet type, original length and whether the kernel left its
///   checksum unfinished (`PACKET_AUXDATA`).
/// - Filtering: `attach(_:)` installs a classic BPF program in the kernel (`SO_ATTACH_FILTER`).
///   Pass the program to `init` instead to have it in place before the first frame is queued.
/// - Duplicates: on `lo` the kernel hands every packet to a packet socket twice, once as
///   `OUTGOING` and once as `HOST` (kernel fact 5). By default a socket on `lo` sets
///   `PACKET_IGNORE_OUTGOING`, so each packet is seen once; ask for `ignoreOutgoing: false` to
///   see the outgoing copies too. On other interfaces our own packets are only seen as
///   `OUTGOING`, so they are kept by default.
/// - Sending: `send(frame:)` puts a whole frame, link header included, on the interface as is:
///   the way to send an IPv4 header that must stay malformed. A socket never captures the
///   frames it sent itself; other packet sockets on the interface see them as `OUTGOING`.
///
/// Requires `CAP_NET_RAW`. The socket is closed by `close()` or when the object is released.
public final class PacketSocket {
  /// The protocol number that captures every protocol (`ETH_P_ALL`).
  public static let allProtocols: UInt16 = 0x0003
  /// The default snapshot length: bytes kept of each frame (as tcpdump's default).
  public static let defaultSnapshotLength = 262_144

  /// The underlying descriptor; owned by this object.
  public let descriptor: SocketDescriptor
  /// The interface this socket is bound to.
  public let interfaceName: String
  /// Its index (`if_nametoindex`).
  public let interfaceIndex: Int32
  /// The link-layer protocol captured (host order; `allProtocols` for every frame).
  public let linkProtocol: UInt16
  /// Whether the kernel's copies of outgoing packets are left out (`PACKET_IGNORE_OUTGOING`).
  public private(set) var ignoresOutgoing: Bool
  /// The most bytes kept of a frame.
  public let snapshotLength: Int

  private var isClosed = false
  private let buffer: UnsafeMutableRawBufferPointer
  private let control: UnsafeMutableRawBufferPointer
  private static let controlLength = 512

  /// Opens a packet socket on `interface`.
  ///
  /// - Parameters:
  ///   - interface: the interface name (`lo`, `eth0`, a veth).
  ///   - protocol: the link-layer protocol to capture, host order (default every protocol,
  ///     `ETH_P_ALL`; 0x0800 for IPv4 only).
  ///   - ignoreOutgoing: leave out the kernel's copies of outgoing packets. `nil` (default): yes
  ///     on `lo` (otherwise each packet appears twice), no elsewhere.
  ///   - filter: a BPF program attached before the socket is bound, so no frame escapes it.
  ///   - snapshotLength: the most bytes kept of a frame (default 262144).
  ///   - receiveBufferSize: `SO_RCVBUF` in bytes, when given.
  /// - Throws: `.missingCapability` without `CAP_NET_RAW`, `.noSuchInterface`,
  ///   `.invalidFilter`, `.system`.
  public init(
    interface: String, protocol linkProtocol: UInt16 = PacketSocket.allProtocols,
    ignoreOutgoing: Bool? = nil, filter: BPFProgram? = nil,
    snapshotLength: Int = PacketSocket.defaultSnapshotLength, receiveBufferSize: Int? = nil
  ) throws(SocketError) {
    let ignore = ignoreOutgoing ?? (interface == "lo")
    let (descriptor, index, _) = try openPacketSocket(
      interface: interface, protocol: linkProtocol, ignoreOutgoing: ignore, filter: filter
    ) { (descriptor, operation) throws(Errno) in
      operation = "setsockopt(PACKET_AUXDATA)"
      try descriptor.setOption(level: SOL_PACKET, name: PACKET_AUXDATA, value: CInt(1))
      operation = "setsockopt(SO_TIMESTAMPNS)"
      try descriptor.setOption(level: SOL_SOCKET, name: crawsocket_so_timestampns(), value: CInt(1))
      if let size = receiveBufferSize {
        operation = "setsockopt(SO_RCVBUF)"
        try descriptor.setOption(level: SOL_SOCKET, name: SO_RCVBUF, value: CInt(clamping: size))
      }
    }
    self.descriptor = descriptor
    self.interfaceName = interface
    self.interfaceIndex = index
    self.linkProtocol = linkProtocol
    self.ignoresOutgoing = ignore
    self.snapshotLength = max(1, snapshotLength)
    buffer = .allocate(byteCount: max(1, snapshotLength), alignment: 16)
    control = .allocate(byteCount: Self.controlLength, alignment: 16)
  }

  deinit {
    if !isClosed { try? descriptor.close() }
    buffer.deallocate()
    control.deallocate()
  }

  /// Closes the socket. Later calls throw `.system(_, .badFileDescriptor)` (the descriptor
  /// number is never reused by mistake).
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    try? descriptor.close()
  }

  /// Attaches `program` as the socket's kernel filter, replacing any earlier one.
  ///
  /// Frames queued before the call did not go through `program`. As libpcap does, this first
  /// attaches a program that drops everything, empties the queue, then attaches `program`, so
  /// that every frame received afterwards passed it.
  ///
  /// - Throws: `.invalidFilter` for a program the kernel would refuse, `.system`.
  ///
  /// The corresponding C option is `SO_ATTACH_FILTER`.
  public func attach(_ program: BPFProgram) throws(SocketError) {
    guard !isClosed else { throw .system(operation: "setsockopt(SO_ATTACH_FILTER)", .badFileDescriptor) }
    if let problem = program.validationProblem() { throw .invalidFilter(problem) }
    do throws(Errno) {
      try descriptor.attachFilter(.rejectAll)
      // Bounded: the queue holds at most SO_RCVBUF bytes, and nothing new enters it now.
      var drained = 0
      while drained < 1_000_000,
        try descriptor.receive(into: buffer, flags: CInt(MSG_DONTWAIT)) != nil
      {
        drained += 1
      }
      try descriptor.attachFilter(program)
    } catch {
      throw .system(operation: "setsockopt(SO_ATTACH_FILTER)", error)
    }
  }

  /// Waits up to `timeout` for the next frame.
  ///
  /// - Returns: the frame, or `nil` when none came in time. Never blocks longer than `timeout`
  ///   (plus scheduling); `EINTR` is retried with the time that is left.
  /// - Throws: `.system(operation: "recvmsg"|"poll", ...)`.
  public func receive(timeout: Duration) throws(SocketError) -> CapturedFrame? {
    var frame = CapturedFrame(bytes: [])
    return try receive(into: &frame, timeout: timeout) ? frame : nil
  }

  /// Waits up to `timeout` for the next frame and writes it into `frame`, reusing the capacity
  /// of `frame.bytes` (no allocation once it is large enough).
  ///
  /// - Returns: `true` when a frame arrived, `false` on timeout (`frame` unchanged).
  public func receive(into frame: inout CapturedFrame, timeout: Duration) throws(SocketError) -> Bool {
    guard !isClosed else { throw .system(operation: "recvmsg", .badFileDescriptor) }
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    var polls = 0
    while true {
      if try receiveNow(into: &frame) { return true }
      let remaining = deadline - clock.now
      if remaining <= .zero || polls > 100_000 { return false }
      polls += 1
      do throws(Errno) {
        _ = try descriptor.poll(for: .readable, timeout: remaining)
      } catch {
        throw .system(operation: "poll", error)
      }
    }
  }

  /// One non-blocking `recvmsg`: `false` when the queue is empty.
  private func receiveNow(into frame: inout CapturedFrame) throws(SocketError) -> Bool {
    var address = sockaddr_ll()
    var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
    let received: Int?
    var controlLength = 0
    do throws(Errno) {
      (received, controlLength) = try withUnsafeMutablePointer(to: &address) {
        (addressPointer) throws(Errno) -> (Int?, Int) in
        try withUnsafeMutablePointer(to: &vector) { (vectorPointer) throws(Errno) -> (Int?, Int) in
          var message = msghdr()
          message.msg_name = UnsafeMutableRawPointer(addressPointer)
          message.msg_namelen = socklen_t(MemoryLayout<sockaddr_ll>.size)
          message.msg_iov = vectorPointer
          message.msg_iovlen = 1
          message.msg_control = control.baseAddress
          message.msg_controllen = control.count
          let count = try descriptor.receiveMessage(&message, flags: CInt(MSG_DONTWAIT | MSG_TRUNC))
          return (count, message.msg_controllen)
        }
      }
    } catch {
      throw .system(operation: "recvmsg", error)
    }
    guard let length = received else { return false }
    let kept = min(max(0, length), buffer.count)
    frame.bytes.removeAll(keepingCapacity: true)
    frame.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<kept]))
    frame.originalLength = max(length, kept)
    frame.packetType = PacketType(rawValue: address.sll_pkttype)
    frame.interfaceIndex = address.sll_ifindex
    frame.linkProtocol = UInt16(bigEndian: address.sll_protocol)
    frame.hardwareType = address.sll_hatype
    frame.checksumNotReady = false
    frame.checksumVerified = false
    frame.vlanTag = nil
    frame.timestamp = CaptureTimestamp(seconds: 0, nanoseconds: 0)
    parseControlMessages(length: controlLength, into: &frame)
    return true
  }

  /// Reads `PACKET_AUXDATA` and `SCM_TIMESTAMPNS` from the control buffer.
  private func parseControlMessages(length: Int, into frame: inout CapturedFrame) {
    guard length > 0 else { return }
    var message = msghdr()
    message.msg_control = control.baseAddress
    message.msg_controllen = min(length, control.count)
    var header = crawsocket_cmsg_firsthdr(&message)
    var count = 0
    while let current = header, count < 16 {
      count += 1
      let dataLength = Int(current.pointee.cmsg_len) - crawsocket_cmsg_len(0)
      if let data = crawsocket_cmsg_data(current) {
        let raw = UnsafeRawPointer(data)
        if current.pointee.cmsg_level == SOL_PACKET, current.pointee.cmsg_type == PACKET_AUXDATA,
          dataLength >= MemoryLayout<tpacket_auxdata>.size
        {
          let auxiliary = raw.loadUnaligned(as: tpacket_auxdata.self)
          frame.checksumNotReady = auxiliary.tp_status & UInt32(TP_STATUS_CSUMNOTREADY) != 0
          frame.checksumVerified = auxiliary.tp_status & UInt32(TP_STATUS_CSUM_VALID) != 0
          if auxiliary.tp_status & UInt32(TP_STATUS_VLAN_VALID) != 0 {
            frame.vlanTag = auxiliary.tp_vlan_tci
          }
          frame.originalLength = max(frame.originalLength, Int(auxiliary.tp_len))
        } else if current.pointee.cmsg_level == SOL_SOCKET,
          current.pointee.cmsg_type == crawsocket_so_timestampns(),
          dataLength >= MemoryLayout<timespec>.size
        {
          let time = raw.loadUnaligned(as: timespec.self)
          frame.timestamp = CaptureTimestamp(
            seconds: Int64(time.tv_sec), nanoseconds: UInt32(truncatingIfNeeded: time.tv_nsec))
        }
      }
      header = crawsocket_cmsg_nxthdr(&message, current)
    }
  }

  /// Sends a whole link-layer frame (Ethernet header included) out of this socket's interface,
  /// exactly as given: nothing in it is checked or rewritten. This is how an IPv4 header with a
  /// bad checksum, a lying total length or IHL reaches the wire.
  ///
  /// - Throws: `.blockedByFirewall` (`EPERM`), `.partialSend`, `.system(operation: "sendto", ...)`
  ///   (`EMSGSIZE` when longer than the interface's MTU plus its header).
  ///
  /// The corresponding C function is `sendto(2)` with a `sockaddr_ll`.
  public func send(frame: UnsafeRawBufferPointer) throws(SocketError) {
    guard !isClosed else { throw .system(operation: "sendto", .badFileDescriptor) }
    var address = sockaddr_ll()
    address.sll_family = UInt16(AF_PACKET)
    address.sll_ifindex = interfaceIndex
    let result = withUnsafeBytes(of: &address) { raw -> Result<Int?, Errno> in
      do throws(Errno) {
        return .success(try descriptor.send(frame, to: raw))
      } catch {
        return .failure(error)
      }
    }
    switch result {
    case .success(let sent):
      let count = sent ?? 0
      if count != frame.count { throw .partialSend(sent: count, expected: frame.count) }
    case .failure(let error) where error == .notPermitted:
      throw .blockedByFirewall
    case .failure(let error):
      throw .system(operation: "sendto", error)
    }
  }

  /// Sends a whole link-layer frame; see `send(frame:)`.
  public func send(frame: [UInt8]) throws(SocketError) {
    let result = frame.withUnsafeBytes { raw -> Result<Void, SocketError> in
      do throws(SocketError) {
        try send(frame: raw)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }

  /// The kernel's counters since the previous call (reading resets them): frames that passed
  /// the filter and frames dropped for lack of queue space.
  ///
  /// The corresponding C option is `PACKET_STATISTICS`.
  public func statistics() throws(SocketError) -> CaptureStatistics {
    guard !isClosed else { throw .system(operation: "getsockopt(PACKET_STATISTICS)", .badFileDescriptor) }
    do throws(Errno) {
      let stats = try descriptor.option(
        level: SOL_PACKET, name: PACKET_STATISTICS, as: tpacket_stats.self, initial: tpacket_stats())
      return CaptureStatistics(packets: stats.tp_packets, drops: stats.tp_drops)
    } catch {
      throw .system(operation: "getsockopt(PACKET_STATISTICS)", error)
    }
  }
}

extension SocketDescriptor {
  /// Attaches a classic BPF program (`SO_ATTACH_FILTER`).
  ///
  /// The corresponding C function is `setsockopt(2)`.
  public func attachFilter(_ program: BPFProgram) throws(Errno) {
    var filters = program.instructions.map {
      sock_filter(code: $0.code, jt: $0.jumpIfTrue, jf: $0.jumpIfFalse, k: $0.k)
    }
    let count = UInt16(truncatingIfNeeded: filters.count)
    let result = filters.withUnsafeMutableBufferPointer { pointer -> Result<Void, Errno> in
      let fprog = sock_fprog(len: count, filter: pointer.baseAddress)
      do throws(Errno) {
        try setOption(level: SOL_SOCKET, name: SO_ATTACH_FILTER, value: fprog)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }
}
