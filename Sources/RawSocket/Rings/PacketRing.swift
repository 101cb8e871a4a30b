import CRawSocket
import Synchronization

/// The shape of a memory-mapped packet ring (`PACKET_TX_RING`, `PACKET_RX_RING`): `blockCount`
/// blocks of `blockSize` bytes, each cut into frames of `frameSize` bytes.
///
/// The kernel's rules (packet(7), `packet_set_ring`), all checked by `validationProblem`:
/// - `blockSize` is a positive multiple of the page size;
/// - `frameSize` is a multiple of 16 (`TPACKET_ALIGNMENT`) and large enough for the frame header;
/// - a frame never crosses a block: frames per block = `blockSize / frameSize`, at least 1, and
///   the ring holds exactly `framesPerBlock * blockCount` frames.
///
/// With `TPACKET_V3` receive rings the kernel packs frames of any length into blocks and
/// `frameSize` only has to satisfy the rules above; the block is the unit handed back and forth.
public struct PacketRingGeometry: Hashable, Sendable, CustomStringConvertible {
  /// Bytes per block (a multiple of the page size).
  public var blockSize: Int
  /// Number of blocks.
  public var blockCount: Int
  /// Bytes per frame slot (a multiple of 16), frame header included.
  public var frameSize: Int

  public init(blockSize: Int, blockCount: Int, frameSize: Int) {
    self.blockSize = blockSize
    self.blockCount = blockCount
    self.frameSize = frameSize
  }

  /// Frames in one block.
  public var framesPerBlock: Int { frameSize > 0 ? blockSize / frameSize : 0 }
  /// Frames in the whole ring.
  public var frameCount: Int { framesPerBlock * blockCount }
  /// Bytes the ring maps.
  public var totalSize: Int { blockSize * blockCount }

  /// A ring for sending frames of up to `maximumFrameLength` bytes (link header included) with
  /// `TPACKET_V2`: frames of `32 + maximumFrameLength` bytes rounded up to 16, in blocks of 64 KiB
  /// or more (whole pages), about `frames` of them (at least one block's worth).
  public static func transmit(maximumFrameLength: Int, frames: Int = 4096) -> PacketRingGeometry {
    let frameSize = TPacket.align(TPacket.v2DataOffset + max(1, maximumFrameLength))
    let page = system_pageSize()
    var blockSize = max(page, 64 * 1024)
    while blockSize < frameSize { blockSize *= 2 }
    blockSize = (blockSize + page - 1) / page * page
    let perBlock = max(1, blockSize / frameSize)
    let blocks = max(1, (max(1, frames) + perBlock - 1) / perBlock)
    return PacketRingGeometry(blockSize: blockSize, blockCount: blocks, frameSize: frameSize)
  }

  /// A `TPACKET_V3` receive ring of about `totalSize` bytes in blocks of `blockSize` (default 1 MiB
  /// blocks, 32 MiB in all; tcpdump's default buffer is 2 MiB).
  public static func receive(totalSize: Int = 32 << 20, blockSize: Int = 1 << 20) -> PacketRingGeometry {
    let page = system_pageSize()
    let block = max(page, (blockSize + page - 1) / page * page)
    let count = max(2, (totalSize + block - 1) / block)
    return PacketRingGeometry(blockSize: block, blockCount: count, frameSize: 2048)
  }

  /// Why the kernel would refuse this ring, or `nil` when it is acceptable.
  public func validationProblem(minimumFrameSize: Int) -> String? {
    let page = system_pageSize()
    if blockSize <= 0 || blockSize % page != 0 {
      return "block size \(blockSize) is not a positive multiple of the page size (\(page))"
    }
    if blockCount <= 0 { return "block count \(blockCount) is not positive" }
    if frameSize < minimumFrameSize || frameSize % TPacket.alignment != 0 {
      return "frame size \(frameSize) must be a multiple of \(TPacket.alignment), at least \(minimumFrameSize)"
    }
    if frameSize > blockSize { return "frame size \(frameSize) is larger than the block size \(blockSize)" }
    if blockSize > Int(UInt32.max) || blockCount > Int(UInt32.max) / max(1, framesPerBlock) {
      return "ring too large"
    }
    return nil
  }

  public var description: String {
    "\(blockCount) blocks of \(blockSize) bytes, \(frameCount) frames of \(frameSize) bytes"
  }
}

/// `TPACKET` constants and layout facts shared by the rings (`<linux/if_packet.h>`).
public enum TPacket {
  /// `TPACKET_ALIGNMENT`: frames and frame data are aligned to 16 bytes.
  public static let alignment = 16
  /// `TPACKET_ALIGN(x)`.
  @inline(__always)
  public static func align(_ value: Int) -> Int { (value + alignment - 1) & ~(alignment - 1) }
  /// `TPACKET_V2` (`PACKET_VERSION` value).
  public static let version2: CInt = 1
  /// `TPACKET_V3` (`PACKET_VERSION` value).
  public static let version3: CInt = 2
  /// Where a `TPACKET_V2` transmit frame's data starts: `TPACKET_ALIGN(sizeof(tpacket2_hdr))`
  /// (the kernel's offset without `PACKET_TX_HAS_OFF`).
  public static let v2DataOffset = align(MemoryLayout<tpacket2_hdr>.size)
  /// `TPACKET2_HDRLEN`: the smallest `TPACKET_V2` frame.
  public static let v2HeaderLength = v2DataOffset + MemoryLayout<sockaddr_ll>.size
  /// `TPACKET3_HDRLEN`.
  public static let v3HeaderLength = align(MemoryLayout<tpacket3_hdr>.size) + MemoryLayout<sockaddr_ll>.size
}

/// The `tp_status` word of a ring frame or block (`TP_STATUS_*`).
///
/// A struct over the raw value, open to any bit the kernel sets. The same bit means different
/// things in receive and transmit rings (bit 0 is `USER` in one and `SEND_REQUEST` in the other).
public struct TPacketStatus: OptionSet, Hashable, Sendable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// Receive: the kernel owns the frame/block (`TP_STATUS_KERNEL`, 0). Transmit: the frame is
  /// free for us to fill (`TP_STATUS_AVAILABLE`, 0).
  public static var kernel: TPacketStatus { [] }
  /// Receive: the frame/block is ours to read. The corresponding C constant is `TP_STATUS_USER`.
  public static var user: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_USER)) }
  /// Receive: frames were dropped before this one. The C constant is `TP_STATUS_LOSING`.
  public static var losing: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_LOSING)) }
  /// The checksum was left unfinished (`TP_STATUS_CSUMNOTREADY`).
  public static var checksumNotReady: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_CSUMNOTREADY)) }
  /// `tp_vlan_tci` is valid (`TP_STATUS_VLAN_VALID`).
  public static var vlanValid: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_VLAN_VALID)) }
  /// Receive (V3 block): the block was closed by its timeout (`TP_STATUS_BLK_TMO`).
  public static var blockTimedOut: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_BLK_TMO)) }
  /// The checksum was verified (`TP_STATUS_CSUM_VALID`).
  public static var checksumValid: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_CSUM_VALID)) }
  /// Transmit: the frame is ready for the kernel to send (`TP_STATUS_SEND_REQUEST`).
  public static var sendRequest: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_SEND_REQUEST)) }
  /// Transmit: the kernel is sending the frame (`TP_STATUS_SENDING`).
  public static var sending: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_SENDING)) }
  /// Transmit: the kernel refused the frame (`TP_STATUS_WRONG_FORMAT`).
  public static var wrongFormat: TPacketStatus { TPacketStatus(rawValue: UInt32(TP_STATUS_WRONG_FORMAT)) }
}

/// A ring mapped into our address space, with the packet socket it belongs to: unmapped when
/// released. Once `openMappedRing` hands it over (`socketOpen`), the socket is the ring's too,
/// closed by `closeSocket()` or when released; before that its opener closes it on failure.
internal final class MappedRing {
  let base: UnsafeMutableRawPointer
  let length: Int
  let descriptor: SocketDescriptor
  /// Whether the socket is ours and still open.
  fileprivate(set) var socketOpen = false

  init(descriptor: SocketDescriptor, length: Int) throws(Errno) {
    guard let base = system_mmapShared(descriptor.rawValue, length) else {
      throw Errno(rawValue: system_errno())
    }
    self.base = base
    self.length = length
    self.descriptor = descriptor
  }

  deinit {
    closeSocket()
    _ = system_munmap(base, length)
  }

  /// Closes the socket (once); the mapping stays until the object goes.
  func closeSocket() {
    guard socketOpen else { return }
    socketOpen = false
    try? descriptor.close()
  }

  /// Reads the status word at `offset` with acquire ordering: what the kernel wrote before it
  /// published the status is visible afterwards.
  @inline(__always)
  func loadStatus(at offset: Int) -> UInt32 {
    (base + offset).bindMemory(to: Atomic<UInt32>.self, capacity: 1).pointee.load(ordering: .acquiring)
  }

  /// Writes the status word at `offset` with release ordering: everything we wrote to the frame
  /// before is visible to the kernel once it sees the status.
  @inline(__always)
  func storeStatus(_ value: UInt32, at offset: Int) {
    (base + offset).bindMemory(to: Atomic<UInt32>.self, capacity: 1).pointee.store(value, ordering: .releasing)
  }
}

/// Opens a packet socket as `openPacketSocket` does, lets `configure` set its options, asks for
/// the ring (`setsockopt(SOL_PACKET, option, request)`, `option` named `optionName` in errors)
/// and maps it. Shared by `RXRing` and `TXRing`.
internal func openMappedRing<Request>(
  interface: String, protocol linkProtocol: UInt16, ignoreOutgoing: Bool = false, filter: BPFProgram? = nil,
  geometry: PacketRingGeometry, option: CInt, optionName: String, request: Request,
  configure: (SocketDescriptor, inout String) throws(Errno) -> Void
) throws(SocketError) -> (SocketDescriptor, Int32, MappedRing) {
  let opened = try openPacketSocket(interface: interface, protocol: linkProtocol, ignoreOutgoing: ignoreOutgoing, filter: filter) {
    (descriptor, operation) throws(Errno) in
    try configure(descriptor, &operation)
    operation = "setsockopt(\(optionName), \(geometry))"
    try descriptor.setOption(level: SOL_PACKET, name: option, value: request)
    operation = "mmap(\(optionName), \(geometry.totalSize) bytes)"
    return try MappedRing(descriptor: descriptor, length: geometry.totalSize)
  }
  opened.2.socketOpen = true  // bound: the socket is the ring's from here on
  return opened
}

/// Opens an `AF_PACKET`/`SOCK_RAW` socket (protocol 0: it queues nothing until bound, so nothing
/// from other interfaces slips into its queue before the bind and the filter), lets `configure`
/// set it up (options, version, ring; it names the step in `operation` for errors), sets
/// `PACKET_IGNORE_OUTGOING` when `ignoreOutgoing`, attaches `filter`, then binds it to `interface`
/// and `protocol`. Returns the socket, the interface index and what `configure` returned (a
/// ring's mapping). Shared by `PacketSocket`, `RXRing` and `TXRing`.
///
/// Checks, in order: `CAP_NET_RAW`, `filter` (when given), the interface name.
internal func openPacketSocket<Configured>(
  interface: String, protocol linkProtocol: UInt16, ignoreOutgoing: Bool = false, filter: BPFProgram? = nil,
  configure: (SocketDescriptor, inout String) throws(Errno) -> Configured
) throws(SocketError) -> (SocketDescriptor, Int32, Configured) {
  do throws(CapabilityError) {
    try Capabilities.require(.netRaw)
  } catch {
    throw .missingCapability(error)
  }
  if let filter, let problem = filter.validationProblem() { throw .invalidFilter(problem) }
  guard !interface.isEmpty, interface.utf8.count < 16, !interface.utf8.contains(0) else {
    throw .noSuchInterface(interface)
  }
  let index = system_if_nametoindex(interface)
  guard index != 0, index <= CUnsignedInt(Int32.max) else { throw .noSuchInterface(interface) }
  let descriptor: SocketDescriptor
  do throws(Errno) {
    descriptor = try SocketDescriptor.open(domain: AF_PACKET, type: CInt(SOCK_RAW.rawValue), protocol: 0)
  } catch {
    if error == .notPermitted || error == .permissionDenied {
      throw .missingCapability(Capabilities.errorForDeniedSocket([.netRaw]))
    }
    throw .system(operation: "socket(AF_PACKET, SOCK_RAW)", error)
  }
  var operation = "setsockopt"
  let configured: Configured
  do throws(Errno) {
    configured = try configure(descriptor, &operation)
    if ignoreOutgoing {
      operation = "setsockopt(PACKET_IGNORE_OUTGOING)"
      try descriptor.setOption(level: SOL_PACKET, name: PACKET_IGNORE_OUTGOING, value: CInt(1))
    }
    if let filter {
      operation = "setsockopt(SO_ATTACH_FILTER)"
      try descriptor.attachFilter(filter)
    }
    operation = "bind(\(interface))"
    var address = sockaddr_ll()
    address.sll_family = UInt16(AF_PACKET)
    address.sll_protocol = linkProtocol.bigEndian
    address.sll_ifindex = Int32(index)
    try withUnsafeBytes(of: &address) { (raw) throws(Errno) in try descriptor.bind(address: raw) }
  } catch {
    try? descriptor.close()
    if error == .noSuchDevice { throw .noSuchInterface(interface) }
    throw .system(operation: operation, error)
  }
  return (descriptor, Int32(index), configured)
}
