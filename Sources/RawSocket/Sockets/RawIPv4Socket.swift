import CRawSocket

/// A layer-3 raw socket for sending complete IPv4 packets that we built ourselves:
/// `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)` with `IP_HDRINCL`. It only sends; capture replies
/// with a `PacketSocket`.
///
/// What the kernel does to the header we give it (raw(7); checked on Linux 6.18 by
/// `LoopbackCaptureTests.kernelRewritesOfHeaderIncludedPackets`):
/// - the IPv4 **header checksum is always recomputed** and the **total length is always
///   rewritten** from the bytes actually sent;
/// - an **identification of 0** is replaced by one the kernel picks, unless DF is set (then it
///   stays 0), and a **source address of 0.0.0.0** is replaced by the route's source;
/// - everything else (TTL, flags, options, the whole TCP segment and its checksum) goes out as
///   given. A packet whose IPv4 header must stay malformed (bad checksum, lying total length or
///   IHL) has to be sent at layer 2 with `PacketSocket.send(frame:)`.
///
/// Packets pass through the output netfilter hooks: a packet the firewall drops makes the send
/// fail with `SocketError.blockedByFirewall` (the kernel returns `EPERM`). An `RSTGuard` lets
/// this socket's crafted RSTs through when the same user opened both (its `meta skuid` rule).
///
/// Requires `CAP_NET_RAW`. The socket is closed by `close()` or when the object is released.
public final class RawIPv4Socket {
  /// The underlying descriptor; owned by this object.
  public let descriptor: SocketDescriptor
  /// The effective group the socket was created under (`nil`: the process's own).
  public let exemptGroup: UInt32?
  private var isClosed = false
  private var scratchBatch: SendBatch?

  /// Opens the socket.
  ///
  /// - Parameter exemptGroup: create the socket under this group: the calling thread's
  ///   filesystem gid is switched with `setfsgid(2)` and restored at once. nf_tables' `meta
  ///   skgid` matches the file credentials a socket was created with, so a firewall rule (or an
  ///   `RSTGuard(exemptGroup:)`) can single out this socket's packets. Needs `CAP_SETGID` (root).
  ///   Only the calling thread is affected (unlike `setegid`, which glibc broadcasts to every
  ///   thread with a signal). Not needed for the default RST guard: that one exempts every
  ///   socket its user opens (`meta skuid`), so `RawIPv4Socket()` passes it with no privilege
  ///   beyond `CAP_NET_RAW`.
  /// - Throws: `SocketError.missingCapability` without `CAP_NET_RAW`;
  ///   `.cannotChangeGroup` when the group switch fails; `.system` otherwise.
  public init(exemptGroup: UInt32? = nil) throws(SocketError) {
    let descriptor = try RawSendSocket.open(domain: AF_INET, domainName: "AF_INET", exemptGroup: exemptGroup)
    do throws(Errno) {
      try descriptor.setOption(level: CInt(IPPROTO_IP), name: IP_HDRINCL, value: CInt(1))
    } catch {
      try? descriptor.close()
      throw .system(operation: "setsockopt(IP_HDRINCL)", error)
    }
    self.descriptor = descriptor
    self.exemptGroup = exemptGroup
  }

  deinit { if !isClosed { try? descriptor.close() } }

  /// Closes the socket. Later sends throw `.system(_, .badFileDescriptor)`.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    try? descriptor.close()
  }

  /// Sends one IPv4 packet (header included) towards `destination`.
  ///
  /// - Parameters:
  ///   - packet: the whole IPv4 packet; see the type's notes for the fields the kernel rewrites.
  ///   - destination: the address to route to, host byte order (`0x7F00_0001` = 127.0.0.1);
  ///     normally the header's destination address.
  /// - Throws: `.blockedByFirewall` when netfilter dropped it (`EPERM`), `.partialSend`,
  ///   `.system(operation: "sendto", ...)` otherwise (`EMSGSIZE` over the MTU, ...).
  ///
  /// The corresponding C function is `sendto(2)`.
  public func send(_ packet: UnsafeRawBufferPointer, to destination: UInt32) throws(SocketError) {
    guard !isClosed else { throw .system(operation: "sendto", .badFileDescriptor) }
    try RawSendSocket.send(packet, on: descriptor, to: socketAddress(destination))
  }

  /// Sends one IPv4 packet (header included) towards `destination` (host byte order).
  public func send(_ packet: [UInt8], to destination: UInt32) throws(SocketError) {
    try RawSendSocket.withBytes(packet) { raw throws(SocketError) in try send(raw, to: destination) }
  }

  /// Sends every packet of `batch` with as few `sendmmsg(2)` calls as possible (up to 1024
  /// packets a call), in order. The batch's `sentCount` says how many went out, also when this
  /// throws.
  ///
  /// - Returns: the number of packets sent (all of them unless it throws).
  /// - Throws: `.blockedByFirewall` for a packet netfilter dropped (the ones before it were
  ///   sent), `.system(operation: "sendmmsg", ...)`.
  ///
  /// The corresponding C function is `sendmmsg(2)`.
  @discardableResult
  public func send(batch: SendBatch) throws(SocketError) -> Int {
    guard !isClosed else { throw .system(operation: "sendmmsg", .badFileDescriptor) }
    return try batch.send(through: descriptor)
  }

  /// Sends `packets`, all towards `destination`, with `sendmmsg(2)`. The packets are copied into
  /// a batch this socket keeps and reuses, so repeated calls allocate nothing once it is large
  /// enough.
  ///
  /// - Returns: the number of packets sent.
  /// - Throws: as `send(batch:)`.
  @discardableResult
  public func send(batch packets: [[UInt8]], to destination: UInt32) throws(SocketError) -> Int {
    let batch = scratchBatch ?? SendBatch(capacity: max(packets.count, 64))
    scratchBatch = batch
    var total = 0
    var index = 0
    while index < packets.count {
      batch.removeAll()
      while index < packets.count, batch.append(packets[index], to: destination) { index += 1 }
      if batch.count == 0 {
        throw .system(operation: "sendmmsg", .messageTooLong)
      }
      total += try send(batch: batch)
    }
    return total
  }
}

/// `sockaddr_in` for a host-order IPv4 address, port 0 (raw sockets have no ports).
internal func socketAddress(_ address: UInt32) -> sockaddr_in {
  var value = sockaddr_in()
  value.sin_family = sa_family_t(AF_INET)
  value.sin_port = 0
  value.sin_addr = in_addr(s_addr: address.bigEndian)
  return value
}

/// A reusable batch of IPv4 packets for `RawIPv4Socket.send(batch:)`.
///
/// Packets are copied (or written in place with `append(to:maximumLength:_:)`) into one
/// contiguous buffer; the `iovec`, `crawsocket_mmsghdr` and `sockaddr_in` arrays are allocated once, for
/// `capacity` packets. After the buffer has grown to the batch's working size, filling and
/// sending a batch allocates nothing: `removeAll()` keeps the storage.
public final class SendBatch {
  /// The most messages one `sendmmsg` call takes (`UIO_MAXIOV`).
  public static let maximumMessagesPerCall = 1024
  /// The largest IPv4 packet.
  public static let maximumPacketLength = 65_535

  /// How many packets the batch holds at most.
  public var capacity: Int { packets.capacity }
  /// How many packets it holds now.
  public var count: Int { packets.count }
  /// How many packets of the batch the last send delivered to the kernel.
  public internal(set) var sentCount: Int {
    get { packets.sentCount }
    set { packets.sentCount = newValue }
  }

  internal var packets: PacketBatchStorage
  private let addresses: UnsafeMutablePointer<sockaddr_in>

  /// - Parameters:
  ///   - capacity: the most packets (at least 1).
  ///   - bytes: initial buffer size; it doubles when needed.
  public init(capacity: Int = 1024, bytes: Int = 64 * 1024) {
    packets = PacketBatchStorage(capacity: capacity, bytes: bytes)
    addresses = .allocate(capacity: packets.capacity)
    addresses.initialize(repeating: sockaddr_in(), count: packets.capacity)
  }

  deinit {
    addresses.deallocate()
  }

  /// Empties the batch, keeping its storage.
  public func removeAll() {
    packets.removeAll()
  }

  /// Appends a copy of `packet`, to be sent towards `destination` (host byte order).
  ///
  /// - Returns: `false` (and changes nothing) when the batch is full or the packet is longer
  ///   than 65535 bytes.
  @discardableResult
  public func append(_ packet: UnsafeRawBufferPointer, to destination: UInt32) -> Bool {
    guard let index = packets.append(packet, limit: Self.maximumPacketLength) else { return false }
    addresses[index] = socketAddress(destination)
    return true
  }

  /// Appends a copy of `packet`, to be sent towards `destination` (host byte order).
  @discardableResult
  public func append(_ packet: [UInt8], to destination: UInt32) -> Bool {
    packet.withUnsafeBytes { append($0, to: destination) }
  }

  /// Appends a packet written in place: `write` gets a buffer of `maximumLength` bytes and
  /// returns how many it filled (clamped to `0...maximumLength`).
  ///
  /// - Returns: `false` when the batch is full or `maximumLength` is over 65535.
  @discardableResult
  public func append(
    to destination: UInt32, maximumLength: Int,
    _ write: (UnsafeMutableRawBufferPointer) -> Int
  ) -> Bool {
    guard let index = packets.append(maximumLength: maximumLength, limit: Self.maximumPacketLength, write) else {
      return false
    }
    addresses[index] = socketAddress(destination)
    return true
  }

  /// The bytes of packet `index` (valid until the batch changes).
  public func packet(at index: Int) -> UnsafeRawBufferPointer? {
    packets.packet(at: index)
  }

  /// Sends every packet, each towards its address, through `descriptor` (see `PacketBatchStorage`).
  internal func send(through descriptor: SocketDescriptor) throws(SocketError) -> Int {
    let addresses = addresses
    return try packets.send(through: descriptor, nameLength: MemoryLayout<sockaddr_in>.size) { index in
      UnsafeMutableRawPointer(addresses + index)
    }
  }
}
