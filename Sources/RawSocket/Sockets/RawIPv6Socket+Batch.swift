import CRawSocket

/// A reusable batch of IPv6 packets for `RawIPv6Socket.send(batch:)`: the twin of `SendBatch`
/// with `sockaddr_in6` destinations (16 octets and a scope for link-local ones).
///
/// Packets are copied (or written in place with `append(maximumLength:_:)`) into one contiguous
/// buffer; the `iovec` and `crawsocket_mmsghdr` arrays are allocated once, for `capacity`
/// packets. Every packet of a batch goes towards the batch's one `destination`. Once the buffer
/// has grown to the batch's working size, filling and sending it allocates nothing.
public final class IPv6SendBatch {
  /// The most messages one `sendmmsg` call takes (`UIO_MAXIOV`).
  public static let maximumMessagesPerCall = SendBatch.maximumMessagesPerCall
  /// The largest IPv6 packet without a jumbogram: a 40-byte header and 65535 bytes of payload.
  public static let maximumPacketLength = 40 + 65_535

  /// How many packets the batch holds at most.
  public var capacity: Int { packets.capacity }
  /// How many packets it holds now.
  public var count: Int { packets.count }
  /// How many packets of the batch the last send delivered to the kernel.
  public internal(set) var sentCount: Int {
    get { packets.sentCount }
    set { packets.sentCount = newValue }
  }
  /// The 16 octets every packet is routed towards.
  public let destination: [UInt8]
  /// The interface index for a link-local destination (0: none).
  public let scopeID: UInt32

  internal var packets: PacketBatchStorage
  private let address: UnsafeMutablePointer<sockaddr_in6>

  /// - Parameters:
  ///   - destination: 16 octets (network order).
  ///   - scopeID: the interface index for a link-local destination.
  ///   - capacity: the most packets (at least 1).
  ///   - bytes: initial buffer size; it doubles when needed.
  ///   A `destination` of another length than 16 makes `RawIPv6Socket.send(batch:)` throw
  ///   `EINVAL`, as `send(_:to:)` does.
  public init(destination: [UInt8], scopeID: UInt32 = 0, capacity: Int = 1024, bytes: Int = 64 * 1024) {
    packets = PacketBatchStorage(capacity: capacity, bytes: bytes)
    self.destination = destination
    self.scopeID = scopeID
    address = .allocate(capacity: 1)
    address.initialize(to: ipv6SocketAddress(destination, scopeID: scopeID) ?? sockaddr_in6())
  }

  deinit {
    address.deallocate()
  }

  /// Empties the batch, keeping its storage.
  public func removeAll() {
    packets.removeAll()
  }

  /// Appends a copy of `packet`.
  /// - Returns: `false` (and changes nothing) when the batch is full or the packet is too long.
  @discardableResult
  public func append(_ packet: UnsafeRawBufferPointer) -> Bool {
    packets.append(packet, limit: Self.maximumPacketLength) != nil
  }

  /// Appends a copy of `packet`.
  @discardableResult
  public func append(_ packet: [UInt8]) -> Bool {
    packet.withUnsafeBytes { append($0) }
  }

  /// Appends a packet written in place: `write` gets a buffer of `maximumLength` bytes and
  /// returns how many it filled (clamped to `0...maximumLength`).
  /// - Returns: `false` when the batch is full or `maximumLength` is over `maximumPacketLength`.
  @discardableResult
  public func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
    packets.append(maximumLength: maximumLength, limit: Self.maximumPacketLength, write) != nil
  }

  /// The bytes of packet `index` (valid until the batch changes).
  public func packet(at index: Int) -> UnsafeRawBufferPointer? {
    packets.packet(at: index)
  }

  /// Sends every packet towards the destination through `descriptor` (see `PacketBatchStorage`).
  internal func send(through descriptor: SocketDescriptor) throws(SocketError) -> Int {
    let name = UnsafeMutableRawPointer(address)
    return try packets.send(through: descriptor, nameLength: MemoryLayout<sockaddr_in6>.size) { _ in name }
  }
}

extension RawIPv6Socket {
  /// Sends every packet of `batch` with as few `sendmmsg(2)` calls as possible (up to 1024
  /// packets a call), in order. The batch's `sentCount` says how many went out, also when this
  /// throws. The kernel rewrites nothing in the headers (see the type's notes).
  ///
  /// - Returns: the number of packets sent (all of them unless it throws).
  /// - Throws: `.blockedByFirewall` for a packet netfilter dropped (the ones before it were
  ///   sent), `.partialSend`, `.system(operation: "sendmmsg", ...)`.
  ///
  /// The corresponding C function is `sendmmsg(2)`.
  @discardableResult
  public func send(batch: IPv6SendBatch) throws(SocketError) -> Int {
    guard !isClosed else { throw .system(operation: "sendmmsg", .badFileDescriptor) }
    guard batch.destination.count == 16 else { throw .system(operation: "sendmmsg", Errno(rawValue: EINVAL)) }
    return try batch.send(through: descriptor)
  }
}
