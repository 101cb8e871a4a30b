import CRawSocket

/// The packed storage both send batches share (`SendBatch`, `IPv6SendBatch`): packets copied or
/// written in place into one contiguous buffer that doubles when needed, and the `iovec` and
/// `crawsocket_mmsghdr` arrays allocated once for `capacity` packets. The batches add only their
/// destinations (`sockaddr_in` per packet, one `sockaddr_in6`). Once the buffer has grown to the
/// working size, filling and sending allocates nothing.
internal struct PacketBatchStorage: ~Copyable {
  /// How many packets it holds at most.
  let capacity: Int
  /// How many packets it holds now.
  private(set) var count = 0
  /// How many packets the last send delivered to the kernel.
  var sentCount = 0

  private var storage: UnsafeMutableRawPointer
  private var storageCapacity: Int
  private var used = 0
  private let offsets: UnsafeMutablePointer<Int>
  private let lengths: UnsafeMutablePointer<Int>
  private let vectors: UnsafeMutablePointer<iovec>
  private let headers: UnsafeMutablePointer<crawsocket_mmsghdr>

  /// - Parameters:
  ///   - capacity: the most packets (at least 1).
  ///   - bytes: initial buffer size; it doubles when needed.
  init(capacity: Int, bytes: Int) {
    let capacity = max(1, capacity)
    self.capacity = capacity
    storageCapacity = max(1, bytes)
    storage = UnsafeMutableRawPointer.allocate(byteCount: storageCapacity, alignment: 16)
    offsets = .allocate(capacity: capacity)
    lengths = .allocate(capacity: capacity)
    vectors = .allocate(capacity: capacity)
    vectors.initialize(repeating: iovec(), count: capacity)
    headers = .allocate(capacity: capacity)
    headers.initialize(repeating: crawsocket_mmsghdr(), count: capacity)
  }

  deinit {
    storage.deallocate()
    offsets.deallocate()
    lengths.deallocate()
    vectors.deallocate()
    headers.deallocate()
  }

  /// Empties the batch, keeping its storage.
  mutating func removeAll() {
    count = 0
    used = 0
    sentCount = 0
  }

  /// Appends a packet written in place: `write` gets a buffer of `maximumLength` bytes and
  /// returns how many it filled (clamped to `0...maximumLength`).
  /// - Returns: the new packet's index; `nil` (and nothing changed) when the batch is full or
  ///   `maximumLength` is negative or over `limit`.
  mutating func append(maximumLength: Int, limit: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Int? {
    guard count < capacity, maximumLength >= 0, maximumLength <= limit else { return nil }
    reserve(used + maximumLength)
    let region = UnsafeMutableRawBufferPointer(start: storage + used, count: maximumLength)
    let written = min(max(0, write(region)), maximumLength)
    let index = count
    offsets[index] = used
    lengths[index] = written
    used += written
    count += 1
    return index
  }

  /// Appends a copy of `packet` (see `append(maximumLength:limit:_:)`).
  mutating func append(_ packet: UnsafeRawBufferPointer, limit: Int) -> Int? {
    append(maximumLength: packet.count, limit: limit) { buffer in
      if let source = packet.baseAddress, let target = buffer.baseAddress, packet.count > 0 {
        target.copyMemory(from: source, byteCount: packet.count)
      }
      return packet.count
    }
  }

  /// The bytes of packet `index` (valid until the batch changes).
  func packet(at index: Int) -> UnsafeRawBufferPointer? {
    guard index >= 0, index < count else { return nil }
    return UnsafeRawBufferPointer(start: storage + offsets[index], count: lengths[index])
  }

  private mutating func reserve(_ needed: Int) {
    guard needed > storageCapacity else { return }
    var newCapacity = storageCapacity
    while newCapacity < needed { newCapacity *= 2 }
    let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
    newStorage.copyMemory(from: storage, byteCount: used)
    storage.deallocate()
    storage = newStorage
    storageCapacity = newCapacity
  }

  /// Points each `crawsocket_mmsghdr` at its packet (the buffer may have moved since append) and
  /// at the destination `name(index)` of `nameLength` bytes.
  private func prepareHeaders(nameLength: Int, name: (Int) -> UnsafeMutableRawPointer) {
    for index in 0..<count {
      vectors[index] = iovec(iov_base: storage + offsets[index], iov_len: lengths[index])
      var header = msghdr()
      header.msg_name = name(index)
      header.msg_namelen = socklen_t(nameLength)
      header.msg_iov = vectors + index
      header.msg_iovlen = 1
      headers[index] = crawsocket_mmsghdr(msg_hdr: header, msg_len: 0)
    }
  }

  /// Sends every packet through `descriptor` with as few `sendmmsg(2)` calls as possible (up to
  /// `SendBatch.maximumMessagesPerCall` a call), in order, each towards `name(index)`.
  /// `sentCount` says how many went out, also when this throws.
  /// - Throws: `.blockedByFirewall` for a packet netfilter dropped (the ones before it were
  ///   sent), `.partialSend`, `.system(operation: "sendmmsg", ...)`.
  mutating func send(
    through descriptor: SocketDescriptor, nameLength: Int, name: (Int) -> UnsafeMutableRawPointer
  ) throws(SocketError) -> Int {
    prepareHeaders(nameLength: nameLength, name: name)
    sentCount = 0
    var attemptsWithoutProgress = 0
    while sentCount < count {
      let start = sentCount
      let chunk = min(count - start, SendBatch.maximumMessagesPerCall)
      let sent: Int?
      do throws(Errno) {
        sent = try descriptor.sendMessages(headers + start, count: chunk)
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
        let expected = lengths[index]
        let actual = Int(headers[index].msg_len)
        if actual != expected {
          sentCount = index
          throw .partialSend(sent: actual, expected: expected)
        }
      }
      sentCount = start + sent
    }
    return sentCount
  }
}
