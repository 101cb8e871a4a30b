import CRawSocket

/// A layer-2 transmit ring: `AF_PACKET` with `PACKET_TX_RING` (`TPACKET_V2`) on one interface.
/// Frames are written straight into memory shared with the kernel, then one `send` hands all of
/// them over: no copy through the socket API and one system call for thousands of frames.
///
/// ```swift
/// let ring = try PacketTXRing(interface: "veth0", maximumFrameLength: 64)
/// for _ in 0..<n {
///   if !ring.append(frame) { try ring.flush() }   // ring full: send what is queued
/// }
/// let result = try ring.flush()                    // result.sent frames went out
/// ```
///
/// How it works (packet(7), `Documentation/networking/packet_mmap.rst`): each frame slot starts
/// with a `tpacket2_hdr`; the data goes at offset 32 (`TPACKET_ALIGN(sizeof(tpacket2_hdr))`). We
/// fill slots in ring order, set `tp_len`, and publish the slot with `tp_status =
/// TP_STATUS_SEND_REQUEST` (a release store). `flush()` calls `sendto(fd, NULL, 0, 0, NULL, 0)`,
/// which walks the ring from where it stopped last, sends every requested slot, and — blocking —
/// returns once every one of them is done and marked `TP_STATUS_AVAILABLE` again.
///
/// Frames go out as given (nothing is checked or rewritten): the link header is the caller's.
/// `PACKET_LOSS` is set, so a frame the kernel cannot send (longer than the MTU, shorter than
/// the link header) is skipped instead of stopping the ring; `flush` counts such frames as
/// `discarded` (from the byte count the kernel returns).
///
/// Requires `CAP_NET_RAW`. The socket and mapping are released by `close()` or with the object.
public final class PacketTXRing {
  /// The underlying descriptor; owned by this object.
  public let descriptor: SocketDescriptor
  /// The interface the frames go out of.
  public let interfaceName: String
  /// Its index.
  public let interfaceIndex: Int32
  /// The ring's shape.
  public let geometry: PacketRingGeometry
  /// Whether frames skip the queueing discipline (`PACKET_QDISC_BYPASS`): faster, but packet
  /// sockets on this interface (tcpdump) do not see them leave.
  public let bypassesQueueingDiscipline: Bool
  /// The longest frame a slot holds.
  public var maximumFrameLength: Int { geometry.frameSize - TPacket.v2DataOffset }
  /// Frames written since the last flush (waiting for `flush()`).
  public private(set) var queuedCount = 0

  private let ring: MappedRing
  /// The next slot to fill (ring order, the kernel sends in the same order).
  private var nextSlot = 0
  /// Bytes and frame lengths queued since the last flush, for the discard count.
  private var queuedBytes = 0
  private var queuedShortest = Int.max
  private var queuedLongest = 0

  /// Opens the socket, sets up and maps the ring, and binds to `interface`.
  ///
  /// - Parameters:
  ///   - interface: the interface to send on (`lo`, a veth, `eth0`).
  ///   - geometry: the ring's shape (default: `transmit(maximumFrameLength:)`).
  ///   - maximumFrameLength: the longest frame to send, link header included (default 1514).
  ///   - bypassQueueingDiscipline: set `PACKET_QDISC_BYPASS` (as trafgen does).
  /// - Throws: `.missingCapability`, `.noSuchInterface`, `.invalidRing`, `.system`.
  public init(
    interface: String, maximumFrameLength: Int = 1514, geometry: PacketRingGeometry? = nil,
    bypassQueueingDiscipline: Bool = false
  ) throws(SocketError) {
    let geometry = geometry ?? .transmit(maximumFrameLength: maximumFrameLength)
    if let problem = geometry.validationProblem(minimumFrameSize: TPacket.v2HeaderLength) {
      throw .system(operation: "PACKET_TX_RING (\(problem))", .invalidArgument)
    }
    let request = tpacket_req(
      tp_block_size: UInt32(geometry.blockSize), tp_block_nr: UInt32(geometry.blockCount),
      tp_frame_size: UInt32(geometry.frameSize), tp_frame_nr: UInt32(geometry.frameCount))
    let (descriptor, index, mapped) = try openMappedRing(
      interface: interface, protocol: 0, geometry: geometry, option: PACKET_TX_RING, optionName: "PACKET_TX_RING", request: request
    ) { (descriptor, operation) throws(Errno) in
      operation = "setsockopt(PACKET_VERSION, TPACKET_V2)"
      try descriptor.setOption(level: SOL_PACKET, name: PACKET_VERSION, value: TPacket.version2)
      operation = "setsockopt(PACKET_LOSS)"
      try descriptor.setOption(level: SOL_PACKET, name: PACKET_LOSS, value: CInt(1))
      if bypassQueueingDiscipline {
        operation = "setsockopt(PACKET_QDISC_BYPASS)"
        try descriptor.setOption(level: SOL_PACKET, name: PACKET_QDISC_BYPASS, value: CInt(1))
      }
    }
    self.descriptor = descriptor
    self.interfaceName = interface
    self.interfaceIndex = index
    self.geometry = geometry
    self.bypassesQueueingDiscipline = bypassQueueingDiscipline
    self.ring = mapped
  }

  /// Closes the socket (frames not flushed are not sent). The mapping goes with the object (which
  /// also closes the socket if this was not called).
  public func close() { ring.closeSocket() }

  /// The byte offset of slot `slot` in the mapping (frames never cross a block).
  @inline(__always)
  private func offset(ofSlot slot: Int) -> Int {
    let perBlock = geometry.framesPerBlock
    return (slot / perBlock) * geometry.blockSize + (slot % perBlock) * geometry.frameSize
  }

  private static let statusOffset = MemoryLayout<tpacket2_hdr>.offset(of: \tpacket2_hdr.tp_status) ?? 0
  private static let lengthOffset = MemoryLayout<tpacket2_hdr>.offset(of: \tpacket2_hdr.tp_len) ?? 4

  /// Whether the next slot is free to fill (false: `flush()` first).
  public var hasRoom: Bool {
    ring.loadStatus(at: offset(ofSlot: nextSlot) + Self.statusOffset) == 0
  }

  /// Writes a frame in place into the next free slot: `write` gets `maximumLength` bytes (at most
  /// `maximumFrameLength`) and returns how many it filled. The frame is queued for `flush()`.
  ///
  /// - Returns: `false` (nothing queued) when the ring is full (flush, then try again), when
  ///   `maximumLength` is larger than a slot, or when `write` returns 0 or less.
  @discardableResult
  public func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
    guard maximumLength > 0, maximumLength <= maximumFrameLength, ring.socketOpen else { return false }
    let slotOffset = offset(ofSlot: nextSlot)
    guard ring.loadStatus(at: slotOffset + Self.statusOffset) == 0 else { return false }
    let data = UnsafeMutableRawBufferPointer(
      start: ring.base + slotOffset + TPacket.v2DataOffset, count: maximumLength)
    let length = min(write(data), maximumLength)
    guard length > 0 else { return false }
    ring.base.storeBytes(of: UInt32(length), toByteOffset: slotOffset + Self.lengthOffset, as: UInt32.self)
    ring.storeStatus(UInt32(TP_STATUS_SEND_REQUEST), at: slotOffset + Self.statusOffset)
    nextSlot += 1
    if nextSlot == geometry.frameCount { nextSlot = 0 }
    queuedCount += 1
    queuedBytes += length
    queuedShortest = min(queuedShortest, length)
    queuedLongest = max(queuedLongest, length)
    return true
  }

  /// Copies `frame` into the next free slot; see `append(maximumLength:_:)`.
  @discardableResult
  public func append(_ frame: UnsafeRawBufferPointer) -> Bool {
    guard let source = frame.baseAddress, frame.count > 0 else { return false }
    return append(maximumLength: frame.count) { target in
      target.baseAddress?.copyMemory(from: source, byteCount: frame.count)
      return frame.count
    }
  }

  /// Copies `frame` into the next free slot; see `append(maximumLength:_:)`.
  @discardableResult
  public func append(_ frame: [UInt8]) -> Bool {
    frame.withUnsafeBytes { append($0) }
  }

  /// What one `flush()` did.
  public struct FlushResult: Hashable, Sendable {
    /// Frames handed to the kernel by this flush.
    public var queued: Int
    /// Frames the kernel sent (queued minus discarded).
    public var sent: Int
    /// Frames the kernel skipped as unsendable (`PACKET_LOSS`; e.g. longer than the MTU). Exact
    /// when the frames of the flush had one length; otherwise the smallest count that explains
    /// the missing bytes.
    public var discarded: Int
    /// Bytes the kernel reports sent.
    public var bytes: Int
  }

  /// Sends every queued frame and waits until the kernel is done with them (blocking `sendto`
  /// on the ring). `ENOBUFS` (the device queue is full) is waited out, bounded.
  ///
  /// - Returns: the counts; all zero when nothing was queued.
  /// - Throws: `.blockedByFirewall` (`EPERM`), `.system(operation: "sendto(PACKET_TX_RING)", ...)`.
  ///   The frames stay queued; a later `flush()` tries them again.
  ///
  /// The corresponding C function is `sendto(2)` with a `NULL` buffer.
  @discardableResult
  public func flush() throws(SocketError) -> FlushResult {
    guard queuedCount > 0 else { return FlushResult(queued: 0, sent: 0, discarded: 0, bytes: 0) }
    var total = 0
    var attempts = 0
    while true {
      let result = valueOrErrno(retryOnInterrupt: true) {
        system_sendto(descriptor.rawValue, nil, 0, 0, nil, 0)
      }
      switch result {
      case .success(let bytes):
        total += bytes
      case .failure(let error) where error == .noBufferSpace || error == .resourceTemporarilyUnavailable:
        attempts += 1
        if attempts > 2000 { throw failedFlush(.system(operation: "sendto(PACKET_TX_RING)", error)) }
        _ = try? descriptor.poll(for: .writable, timeout: .milliseconds(1))
        continue
      case .failure(let error) where error == .notPermitted:
        throw failedFlush(.blockedByFirewall)
      case .failure(let error):
        throw failedFlush(.system(operation: "sendto(PACKET_TX_RING)", error))
      }
      // Blocking mode returns when no slot is left requested; check the last queued one.
      if !isRequested(slot: (nextSlot + geometry.frameCount - 1) % geometry.frameCount) { break }
      attempts += 1
      if attempts > 2000 {
        throw failedFlush(.system(operation: "sendto(PACKET_TX_RING)", .resourceTemporarilyUnavailable))
      }
    }
    let missing = max(0, queuedBytes - total)
    var discarded = 0
    if missing > 0 {
      discarded = queuedShortest == queuedLongest
        ? missing / max(1, queuedShortest)
        : (missing + queuedLongest - 1) / max(1, queuedLongest)
    }
    let queued = queuedCount
    resetQueue()
    sentTotal += queued - discarded
    discardedTotal += discarded
    return FlushResult(queued: queued, sent: queued - discarded, discarded: discarded, bytes: total)
  }

  /// Frames sent by every flush so far (a failed flush counts the frames that left the ring).
  public private(set) var sentTotal = 0
  /// Frames the kernel discarded so far (see `FlushResult.discarded`).
  public private(set) var discardedTotal = 0

  private func isRequested(slot: Int) -> Bool {
    let status = ring.loadStatus(at: offset(ofSlot: slot) + Self.statusOffset)
    return status & UInt32(TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0
  }

  private func resetQueue() {
    queuedCount = 0
    queuedBytes = 0
    queuedShortest = .max
    queuedLongest = 0
  }

  /// After a failed `sendto`: the frames still requested stay queued (they are the newest ones,
  /// in ring order); the others left the ring and count as sent.
  private func failedFlush(_ error: SocketError) -> SocketError {
    var stillQueued = 0
    var bytes = 0
    var shortest = Int.max
    var longest = 0
    var slot = nextSlot
    for _ in 0..<queuedCount {
      slot = (slot + geometry.frameCount - 1) % geometry.frameCount
      guard isRequested(slot: slot) else { break }
      let length = Int(ring.base.load(fromByteOffset: offset(ofSlot: slot) + Self.lengthOffset, as: UInt32.self))
      stillQueued += 1
      bytes += length
      shortest = min(shortest, length)
      longest = max(longest, length)
    }
    sentTotal += queuedCount - stillQueued
    queuedCount = stillQueued
    queuedBytes = bytes
    queuedShortest = shortest
    queuedLongest = longest
    return error
  }
}
