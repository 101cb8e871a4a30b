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
  public let capacity: Int
  /// How many packets it holds now.
  public private(set) var count = 0
  /// How many packets of the batch the last send delivered to the kernel.
  public internal(set) var sentCount = 0
  /// The 16 octets every packet is routed towards.
  public let destination: [UInt8]
  /// The interface index for a link-local destination (0: none).
  public let scopeID: UInt32

  private var storage: UnsafeMutableRawPointer
  private var storageCapacity: Int
  private var used = 0
  private let offsets: UnsafeMutablePointer<Int>
  internal let lengths: UnsafeMutablePointer<Int>
  private let address: UnsafeMutablePointer<sockaddr_in6>
  private let vectors: UnsafeMutablePointer<iovec>
  internal let headers: UnsafeMutablePointer<crawsocket_mmsghdr>

  /// - Parameters:
  ///   - destination: 16 octets (network order).
  ///   - scopeID: the interface index for a link-local destination.
  ///   - capacity: the most packets (at least 1).
  ///   - bytes: initial buffer size; it doubles when needed.
  ///   A `destination` of another length than 16 makes `RawIPv6Socket.send(batch:)` throw
  ///   `EINVAL`, as `send(_:to:)` does.
  public init(destination: [UInt8], scopeID: UInt32 = 0, capacity: Int = 1024, bytes: Int = 64 * 1024) {
    let capacity = max(1, capacity)
    self.capacity = capacity
    self.destination = destination
    self.scopeID = scopeID
    storageCapacity = max(1, bytes)
    storage = UnsafeMutableRawPointer.allocate(byteCount: storageCapacity, alignment: 16)
    offsets = .allocate(capacity: capacity)
    lengths = .allocate(capacity: capacity)
    address = .allocate(capacity: 1)
    address.initialize(to: ipv6SocketAddress(destination, scopeID: scopeID) ?? sockaddr_in6())
    vectors = .allocate(capacity: capacity)
    vectors.initialize(repeating: iovec(), count: capacity)
    headers = .allocate(capacity: capacity)
    headers.initialize(repeating: crawsocket_mmsghdr(), count: capacity)
  }

  deinit {
    storage.deallocate()
    offsets.deallocate()
    lengths.deallocate()
    address.deallocate()
    vectors.deallocate()
    headers.deallocate()
  }

  /// Empties the batch, keeping its storage.
  public func removeAll() {
    count = 0
    used = 0
    sentCount = 0
  }

  /// Appends a copy of `packet`.
  /// - Returns: `false` (and changes nothing) when the batch is full or the packet is too long.
  @discardableResult
  public func append(_ packet: UnsafeRawBufferPointer) -> Bool {
    append(maximumLength: packet.count) { buffer in
      if let source = packet.baseAddress, let target = buffer.baseAddress, packet.count > 0 {
        target.copyMemory(from: source, byteCount: packet.count)
      }
      return packet.count
    }
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
    guard count < capacity, maximumLength >= 0, maximumLength <= Self.maximumPacketLength else { return false }
    reserve(used + maximumLength)
    let region = UnsafeMutableRawBufferPointer(start: storage + used, count: maximumLength)
    let written = min(max(0, write(region)), maximumLength)
    offsets[count] = used
    lengths[count] = written
    used += written
    count += 1
    return true
  }

  /// The bytes of packet `index` (valid until the batch changes).
  public func packet(at index: Int) -> UnsafeRawBufferPointer? {
    guard index >= 0, index < count else { return nil }
    return UnsafeRawBufferPointer(start: storage + offsets[index], count: lengths[index])
  }

  private func reserve(_ needed: Int) {
    guard needed > storageCapacity else { return }
    var newCapacity = storageCapacity
    while newCapacity < needed { newCapacity *= 2 }
    let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
    newStorage.copyMemory(from: storage, byteCount: used)
    storage.deallocate()
    storage = newStorage
    storageCapacity = newCapacity
  }

  /// Points each `crawsocket_mmsghdr` at its packet and the destination.
  internal func prepareHeaders() {
    for index in 0..<count {
      vectors[index] = iovec(iov_base: storage + offsets[index], iov_len: lengths[index])
      var header = msghdr()
      header.msg_name = UnsafeMutableRawPointer(address)
      header.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
      header.msg_iov = vectors + index
      header.msg_iovlen = 1
      headers[index] = crawsocket_mmsghdr(msg_hdr: header, msg_len: 0)
    }
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
    batch.prepareHeaders()
    batch.sentCount = 0
    var attemptsWithoutProgress = 0
    while batch.sentCount < batch.count {
      let start = batch.sentCount
      let chunk = min(batch.count - start, IPv6SendBatch.maximumMessagesPerCall)
      let sent: Int?
      do throws(Errno) {
        sent = try descriptor.sendMessages(batch.headers + start, count: chunk)
      } catch {
        if error == .notPermitted { throw .blockedByFirewall }
        throw .system(operation: "sendmmsg", error)
      }
      guard let sent, sent > 0 else {
        attemptsWithoutProgress += 1
        if attemptsWithoutProgress > 1000 { throw .system(operation: "sendmmsg", .resourceTemporarilyUnavailable) }
        continue
      }
      attemptsWithoutProgress = 0
      for index in start..<(start + sent) {
        let expected = batch.lengths[index]
        let actual = Int(batch.headers[index].msg_len)
        if actual != expected {
          batch.sentCount = index
          throw .partialSend(sent: actual, expected: expected)
        }
      }
      batch.sentCount = start + sent
    }
    return batch.sentCount
  }
}
