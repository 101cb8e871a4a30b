import CRawSocket

/// A frame in a receive ring, seen in place: `bytes` points into memory shared with the kernel
/// and is valid only during the callback that received it (copy with `captured()` to keep it).
public struct RingFrame {
  /// The frame as captured, link-layer header first (at most `tp_snaplen` bytes).
  public let bytes: UnsafeRawBufferPointer
  /// The kernel's timestamp (nanoseconds, `tp_sec`/`tp_nsec`).
  public let timestamp: CaptureTimestamp
  /// The frame's length on the wire (`tp_len`); more than `bytes.count` when cut short.
  public let originalLength: Int
  /// Host, broadcast, outgoing, ... (`sll_pkttype`).
  public let packetType: PacketType
  /// The interface it was seen on (`sll_ifindex`).
  public let interfaceIndex: Int32
  /// The link-layer protocol, host order (`sll_protocol`: 0x0800 for IPv4).
  public let linkProtocol: UInt16
  /// The frame's `tp_status` bits.
  public let status: TPacketStatus
  /// The VLAN tag the NIC stripped (`tp_vlan_tci` when `TP_STATUS_VLAN_VALID`).
  public let vlanTag: UInt16?

  /// The kernel left the transport checksum unfinished (`TP_STATUS_CSUMNOTREADY`): not corrupt.
  public var checksumNotReady: Bool { status.contains(.checksumNotReady) }
  /// The checksum was verified (`TP_STATUS_CSUM_VALID`).
  public var checksumVerified: Bool { status.contains(.checksumValid) }

  /// A copy that outlives the callback, as `PacketSocket.receive` returns it.
  public func captured() -> CapturedFrame {
    CapturedFrame(
      bytes: Array(bytes), timestamp: timestamp, packetType: packetType, interfaceIndex: interfaceIndex,
      originalLength: originalLength, linkProtocol: linkProtocol, checksumNotReady: checksumNotReady,
      checksumVerified: checksumVerified, vlanTag: vlanTag)
  }
}

/// Counters of a ring capture since it was opened (`PACKET_STATISTICS`, `tpacket_stats_v3`,
/// summed over every read: the kernel resets them on each read).
public struct RingStatistics: Hashable, Sendable {
  /// Frames that passed the filter, including the ones dropped (tcpdump's "received by filter").
  public var packets: UInt64
  /// Frames dropped because the ring was full (tcpdump's "dropped by kernel").
  public var drops: UInt64
  /// Times the ring froze because every block was full (`tp_freeze_q_cnt`).
  public var freezes: UInt64

  public init(packets: UInt64 = 0, drops: UInt64 = 0, freezes: UInt64 = 0) {
    self.packets = packets
    self.drops = drops
    self.freezes = freezes
  }
}

/// A `TPACKET_V3` receive ring: `AF_PACKET` with `PACKET_RX_RING` on one interface, for capture
/// at rate. The kernel writes frames straight into memory we share with it, packed into blocks;
/// a block is ours once the kernel marks it `TP_STATUS_USER` (full, or closed by the block
/// timeout), and goes back to the kernel when we set its status to `TP_STATUS_KERNEL` again. No
/// system call per frame: `poll(2)` only when no block is ready.
///
/// ```swift
/// let ring = try PacketRXRing(interface: "lo", filter: program)
/// while ... {
///   _ = try ring.receive(timeout: .milliseconds(200)) { frame in write(frame.bytes) }
/// }
/// let stats = try ring.statistics()   // packets, drops
/// ```
///
/// Same options as `PacketSocket`: a BPF program attached before the bind (so no frame escapes
/// it) and `PACKET_IGNORE_OUTGOING` (default on `lo`, where each packet is otherwise seen twice).
/// Frames are walked through `tpacket_block_desc` → `tpacket3_hdr` (`tp_next_offset`); every
/// offset the kernel gives is checked against the block, so a bad one ends the block, never
/// reads outside it.
///
/// Requires `CAP_NET_RAW`. The socket and mapping are released by `close()` or with the object.
public final class PacketRXRing {
  /// The underlying descriptor; owned by this object.
  public let descriptor: SocketDescriptor
  /// The interface captured.
  public let interfaceName: String
  /// Its index.
  public let interfaceIndex: Int32
  /// The ring's shape.
  public let geometry: PacketRingGeometry
  /// How long the kernel keeps a partly filled block before handing it over.
  public let blockTimeout: Duration
  /// Whether the kernel's copies of outgoing packets are left out (`PACKET_IGNORE_OUTGOING`).
  public let ignoresOutgoing: Bool

  private let ring: MappedRing
  /// The block we read next (or are reading).
  private var block = 0
  /// Inside a block: frames left and the offset of the next one; `nil` when not started.
  private var cursor: (remaining: Int, offset: Int)?
  private var totals = RingStatistics()

  /// Opens the socket, sets `TPACKET_V3`, the filter and the ring, maps it, and binds.
  ///
  /// - Parameters:
  ///   - interface: the interface to capture on.
  ///   - protocol: link-layer protocol, host order (default every protocol, `ETH_P_ALL`).
  ///   - ignoreOutgoing: leave out outgoing copies; `nil`: yes on `lo`, no elsewhere.
  ///   - filter: a BPF program, attached before the bind.
  ///   - geometry: the ring's shape (default 32 blocks of 1 MiB).
  ///   - blockTimeout: the block retire timeout (`tp_retire_blk_tov`, whole milliseconds, at
  ///     least 1; default 10 ms): the longest a frame waits in a partly filled block.
  /// - Throws: `.missingCapability`, `.noSuchInterface`, `.invalidFilter`, `.system`.
  public init(
    interface: String, protocol linkProtocol: UInt16 = PacketSocket.allProtocols,
    ignoreOutgoing: Bool? = nil, filter: BPFProgram? = nil,
    geometry: PacketRingGeometry = .receive(), blockTimeout: Duration = .milliseconds(10)
  ) throws(SocketError) {
    if let filter, let problem = filter.validationProblem() { throw .invalidFilter(problem) }
    if let problem = geometry.validationProblem(minimumFrameSize: TPacket.v3HeaderLength) {
      throw .system(operation: "PACKET_RX_RING (\(problem))", .invalidArgument)
    }
    let ignore = ignoreOutgoing ?? (interface == "lo")
    let timeoutMilliseconds = UInt32(clamping: max(1, Int(blockTimeout.pollMilliseconds)))
    let request = tpacket_req3(
      tp_block_size: UInt32(geometry.blockSize), tp_block_nr: UInt32(geometry.blockCount),
      tp_frame_size: UInt32(geometry.frameSize), tp_frame_nr: UInt32(geometry.frameCount),
      tp_retire_blk_tov: timeoutMilliseconds, tp_sizeof_priv: 0, tp_feature_req_word: 0)
    let (descriptor, index, mapped) = try openMappedRing(
      interface: interface, protocol: linkProtocol, ignoreOutgoing: ignore, filter: filter, geometry: geometry,
      option: PACKET_RX_RING, optionName: "PACKET_RX_RING", request: request
    ) { (descriptor, operation) throws(Errno) in
      operation = "setsockopt(PACKET_VERSION, TPACKET_V3)"
      try descriptor.setOption(level: SOL_PACKET, name: PACKET_VERSION, value: TPacket.version3)
    }
    self.descriptor = descriptor
    self.interfaceName = interface
    self.interfaceIndex = index
    self.geometry = geometry
    self.blockTimeout = .milliseconds(Int64(timeoutMilliseconds))
    self.ignoresOutgoing = ignore
    self.ring = mapped
  }

  /// Closes the socket. The mapping goes with the object (which also closes the socket if this
  /// was not called).
  public func close() { ring.closeSocket() }

  // Offsets in `tpacket_block_desc` (the `tpacket_hdr_v1` inside starts at 8).
  private static let blockHeaderOffset = MemoryLayout<tpacket_block_desc>.offset(of: \tpacket_block_desc.hdr) ?? 8
  private static let blockStatusOffset = blockHeaderOffset + (MemoryLayout<tpacket_hdr_v1>.offset(of: \tpacket_hdr_v1.block_status) ?? 0)
  private static let blockPacketsOffset = blockHeaderOffset + (MemoryLayout<tpacket_hdr_v1>.offset(of: \tpacket_hdr_v1.num_pkts) ?? 4)
  private static let blockFirstOffset = blockHeaderOffset + (MemoryLayout<tpacket_hdr_v1>.offset(of: \tpacket_hdr_v1.offset_to_first_pkt) ?? 8)
  private static let frameHeaderSize = MemoryLayout<tpacket3_hdr>.size
  private static let addressOffset = TPacket.align(MemoryLayout<tpacket3_hdr>.size)

  @inline(__always)
  private func blockIsReady(_ index: Int) -> Bool {
    ring.loadStatus(at: index * geometry.blockSize + Self.blockStatusOffset) & UInt32(TP_STATUS_USER) != 0
  }

  /// Gives block `index` back to the kernel (release store of `TP_STATUS_KERNEL`).
  @inline(__always)
  private func releaseBlock(_ index: Int) {
    ring.storeStatus(UInt32(TP_STATUS_KERNEL), at: index * geometry.blockSize + Self.blockStatusOffset)
  }

  /// Delivers the frames of every ready block, in order, to `body`; when no block is ready,
  /// waits up to `timeout` for one (`poll(2)`, `EINTR` retried with the time left).
  ///
  /// - Parameters:
  ///   - timeout: the longest wait when nothing is ready; zero checks without waiting.
  ///   - limit: deliver at most this many frames; the rest stay for the next call.
  ///   - body: called once per frame; `frame.bytes` is valid only during the call.
  /// - Returns: the number of frames delivered (0 when the timeout passed first).
  /// - Throws: `.system(operation: "poll", ...)`, or the socket's pending error (`SO_ERROR`,
  ///   e.g. `ENETDOWN`).
  @discardableResult
  public func receive(
    timeout: Duration, limit: Int = .max, _ body: (RingFrame) -> Void
  ) throws(SocketError) -> Int {
    guard limit > 0 else { return 0 }
    var delivered = 0
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while delivered == 0 {
      delivered += drainReadyBlocks(limit: limit, body)
      if delivered > 0 { break }
      let left = clock.now.duration(to: deadline)
      if left <= .zero { break }
      let events: PollEvents
      do throws(Errno) {
        events = try descriptor.poll(for: .readable, timeout: left)
      } catch {
        throw .system(operation: "poll", error)
      }
      if events.contains(.error) {
        let code = (try? descriptor.option(level: SOL_SOCKET, name: SO_ERROR, as: CInt.self, initial: 0)) ?? 0
        if code != 0 { throw .system(operation: "poll(PACKET_RX_RING)", Errno(rawValue: code)) }
      }
      if events.contains(.invalid) { throw .system(operation: "poll", .badFileDescriptor) }
      if events.isEmpty { delivered += drainReadyBlocks(limit: limit, body); break }
    }
    return delivered
  }

  /// Walks ready blocks from the current one; returns the frames delivered.
  private func drainReadyBlocks(limit: Int, _ body: (RingFrame) -> Void) -> Int {
    var delivered = 0
    // At most one full turn of the ring per call: bounded even if the kernel keeps filling.
    var blocksSeen = 0
    while delivered < limit, blocksSeen <= geometry.blockCount {
      let blockBase = block * geometry.blockSize
      if cursor == nil {
        guard blockIsReady(block) else { break }
        let count = Int(ring.base.load(fromByteOffset: blockBase + Self.blockPacketsOffset, as: UInt32.self))
        let first = Int(ring.base.load(fromByteOffset: blockBase + Self.blockFirstOffset, as: UInt32.self))
        cursor = (count, first)
      }
      guard var (remaining, offset) = cursor else { break }
      while remaining > 0, delivered < limit {
        guard offset >= 0, offset + Self.frameHeaderSize <= geometry.blockSize,
          let frame = frame(at: blockBase + offset, inBlockUpTo: blockBase + geometry.blockSize)
        else {
          remaining = 0  // an offset outside the block: end the block here
          break
        }
        body(frame.frame)
        delivered += 1
        remaining -= 1
        offset += frame.next
        if frame.next == 0 { remaining = 0 }
      }
      if remaining > 0 {
        cursor = (remaining, offset)
        break
      }
      cursor = nil
      releaseBlock(block)
      block = (block + 1) % geometry.blockCount
      blocksSeen += 1
    }
    return delivered
  }

  /// Reads the frame whose `tpacket3_hdr` is at `start` (an offset in the mapping); `nil` when
  /// its data would reach past `end`.
  private func frame(at start: Int, inBlockUpTo end: Int) -> (frame: RingFrame, next: Int)? {
    let header = ring.base.loadUnaligned(fromByteOffset: start, as: tpacket3_hdr.self)
    let dataStart = start + Int(header.tp_mac)
    let snapshot = Int(header.tp_snaplen)
    guard dataStart + snapshot <= end, start + Self.addressOffset + MemoryLayout<sockaddr_ll>.size <= end else {
      return nil
    }
    let address = ring.base.loadUnaligned(fromByteOffset: start + Self.addressOffset, as: sockaddr_ll.self)
    let status = TPacketStatus(rawValue: header.tp_status)
    let frame = RingFrame(
      bytes: UnsafeRawBufferPointer(start: ring.base + dataStart, count: snapshot),
      timestamp: CaptureTimestamp(seconds: Int64(header.tp_sec), nanoseconds: header.tp_nsec),
      originalLength: max(Int(header.tp_len), snapshot),
      packetType: PacketType(rawValue: address.sll_pkttype),
      interfaceIndex: address.sll_ifindex,
      linkProtocol: UInt16(bigEndian: address.sll_protocol),
      status: status,
      vlanTag: status.contains(.vlanValid) ? UInt16(truncatingIfNeeded: header.hv1.tp_vlan_tci) : nil)
    return (frame, Int(header.tp_next_offset))
  }

  /// The kernel's counters since the ring was opened: frames that passed the filter (drops
  /// included), frames dropped, ring freezes. Each call reads (and so resets) the kernel's
  /// counters and adds them to the running totals.
  ///
  /// The corresponding C option is `PACKET_STATISTICS` (`struct tpacket_stats_v3`).
  public func statistics() throws(SocketError) -> RingStatistics {
    do throws(Errno) {
      let stats = try descriptor.option(
        level: SOL_PACKET, name: PACKET_STATISTICS, as: tpacket_stats_v3.self, initial: tpacket_stats_v3())
      totals.packets += UInt64(stats.tp_packets)
      totals.drops += UInt64(stats.tp_drops)
      totals.freezes += UInt64(stats.tp_freeze_q_cnt)
      return totals
    } catch {
      throw .system(operation: "getsockopt(PACKET_STATISTICS)", error)
    }
  }
}
