// Netlink messages: a builder for requests (header, family header, attributes, nesting) and
// checked, never-trapping readers for what the kernel sends back.
//
// Layout (netlink(7), <linux/netlink.h>): every message starts with a 16-byte `nlmsghdr`
// (length u32, type u16, flags u16, sequence u32, port id u32, all in host byte order), then a
// family header (`rtmsg`, `inet_diag_req_v2`, `nfgenmsg`, ...), then attributes. Each attribute
// is a 4-byte header (length u16 including the header, type u16 with the NLA_F_NESTED and
// NLA_F_NET_BYTEORDER bits on top) followed by its payload, padded to 4 bytes.

/// Netlink message flags (`NLM_F_*`, the 16-bit `nlmsg_flags`).
public struct NetlinkMessageFlags: OptionSet, Hashable, Sendable {
  public let rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  /// A request. The corresponding C flag is `NLM_F_REQUEST`.
  public static let request = NetlinkMessageFlags(rawValue: 0x1)
  /// Part of a multipart reply, ended by `NLMSG_DONE`. `NLM_F_MULTI`.
  public static let multipart = NetlinkMessageFlags(rawValue: 0x2)
  /// Ask for an acknowledgement (an `NLMSG_ERROR` with error 0). `NLM_F_ACK`.
  public static let acknowledge = NetlinkMessageFlags(rawValue: 0x4)
  /// Echo the request back. `NLM_F_ECHO`.
  public static let echo = NetlinkMessageFlags(rawValue: 0x8)
  /// A dump was interrupted by a change; its contents may be inconsistent. `NLM_F_DUMP_INTR`.
  public static let dumpInterrupted = NetlinkMessageFlags(rawValue: 0x10)
  /// Return the root of the tree (GET requests). `NLM_F_ROOT`.
  public static let root = NetlinkMessageFlags(rawValue: 0x100)
  /// Return all matching entries (GET requests). `NLM_F_MATCH`.
  public static let match = NetlinkMessageFlags(rawValue: 0x200)
  /// A dump: `NLM_F_ROOT | NLM_F_MATCH`. `NLM_F_DUMP`.
  public static let dump: NetlinkMessageFlags = [.root, .match]
  /// Replace an existing object (NEW requests). `NLM_F_REPLACE`.
  public static let replace = NetlinkMessageFlags(rawValue: 0x100)
  /// Fail if the object exists (NEW requests). `NLM_F_EXCL`.
  public static let exclusive = NetlinkMessageFlags(rawValue: 0x200)
  /// Create the object if it does not exist (NEW requests). `NLM_F_CREATE`.
  public static let create = NetlinkMessageFlags(rawValue: 0x400)
  /// Add to the end of a list (NEW requests). `NLM_F_APPEND`.
  public static let append = NetlinkMessageFlags(rawValue: 0x800)
}

/// Netlink message type numbers shared by every netlink family (`NLMSG_*`).
public enum NetlinkControlType {
  /// No operation. `NLMSG_NOOP`.
  public static let noop: UInt16 = 1
  /// An error or an acknowledgement (error 0). `NLMSG_ERROR`.
  public static let error: UInt16 = 2
  /// The end of a multipart message. `NLMSG_DONE`.
  public static let done: UInt16 = 3
  /// Data lost (receive buffer overrun). `NLMSG_OVERRUN`.
  public static let overrun: UInt16 = 4
}

/// Builds one netlink message: the 16-byte header, a family header and attributes.
///
/// Length, sequence number and port id are filled in when the message is sent (or by
/// `finalize(sequence:portID:)`). Attributes are 4-byte aligned; nested attributes get
/// `NLA_F_NESTED` and their length patched when the nesting closure returns.
public struct NetlinkMessageBuilder: Sendable {
  /// The message bytes so far, header included (length not final until `finalize`).
  public private(set) var bytes: [UInt8]

  /// The size of `struct nlmsghdr`.
  public static let headerLength = 16
  /// `NLA_F_NESTED`: set on attributes whose payload is itself attributes.
  public static let nestedFlag: UInt16 = 0x8000
  /// `NLA_F_NET_BYTEORDER`.
  public static let networkByteOrderFlag: UInt16 = 0x4000

  /// Starts a message of `type` with `flags` (`.request` is always added).
  public init(type: UInt16, flags: NetlinkMessageFlags = []) {
    bytes = []
    bytes.reserveCapacity(256)
    bytes.appendNative(UInt32(0))  // length, patched
    bytes.appendNative(type)
    bytes.appendNative(flags.union(.request).rawValue)
    bytes.appendNative(UInt32(0))  // sequence
    bytes.appendNative(UInt32(0))  // port id
  }

  /// The message type (`nlmsg_type`).
  public var type: UInt16 { bytes.loadNative(UInt16.self, at: 4) ?? 0 }

  /// The message flags (`nlmsg_flags`).
  public var flags: NetlinkMessageFlags {
    get { NetlinkMessageFlags(rawValue: bytes.loadNative(UInt16.self, at: 6) ?? 0) }
    set { bytes.storeNative(newValue.rawValue, at: 6) }
  }

  /// Appends the raw bytes of a C value (a family header such as `rtmsg`), then pads to 4 bytes.
  public mutating func appendStruct<T>(_ value: T) {
    var value = value
    withUnsafeBytes(of: &value) { bytes.append(contentsOf: $0) }
    pad()
  }

  /// Appends bytes verbatim, then pads to 4 bytes.
  public mutating func append(bytes more: some Collection<UInt8>) {
    bytes.append(contentsOf: more)
    pad()
  }

  /// Appends an attribute with `payload` (padded to 4 bytes).
  /// - Precondition: the payload fits an attribute (at most 65531 bytes).
  public mutating func appendAttribute(type: UInt16, payload: some Collection<UInt8>) {
    precondition(payload.count <= 0xFFFF - 4, "netlink attribute too long")
    bytes.appendNative(UInt16(truncatingIfNeeded: 4 + payload.count))
    bytes.appendNative(type)
    bytes.append(contentsOf: payload)
    pad()
  }

  /// Appends an attribute holding a `UInt32` in host byte order.
  public mutating func appendAttribute(type: UInt16, uint32 value: UInt32) {
    withUnsafeBytes(of: value) { appendAttribute(type: type, payload: $0) }
  }

  /// Appends an attribute holding a `UInt32` in network byte order (nf_tables numbers).
  public mutating func appendAttribute(type: UInt16, bigEndianUInt32 value: UInt32) {
    withUnsafeBytes(of: value.bigEndian) { appendAttribute(type: type, payload: $0) }
  }

  /// Appends an attribute holding a `UInt64` in network byte order.
  public mutating func appendAttribute(type: UInt16, bigEndianUInt64 value: UInt64) {
    withUnsafeBytes(of: value.bigEndian) { appendAttribute(type: type, payload: $0) }
  }

  /// Appends an attribute holding a NUL-terminated string.
  public mutating func appendAttribute(type: UInt16, string: String) {
    var payload = Array(string.utf8)
    payload.append(0)
    appendAttribute(type: type, payload: payload)
  }

  /// Appends a nested attribute (`NLA_F_NESTED` set) whose payload `body` appends.
  public mutating func appendNested(type: UInt16, _ body: (inout NetlinkMessageBuilder) -> Void) {
    let start = bytes.count
    bytes.appendNative(UInt16(0))
    bytes.appendNative(type | Self.nestedFlag)
    body(&self)
    pad()
    let length = bytes.count - start
    precondition(length <= 0xFFFF, "nested netlink attribute too long")
    bytes.storeNative(UInt16(truncatingIfNeeded: length), at: start)
  }

  /// Sets length, sequence number and port id, and returns the finished bytes.
  public func finalize(sequence: UInt32, portID: UInt32 = 0) -> [UInt8] {
    var out = bytes
    out.storeNative(UInt32(truncatingIfNeeded: out.count), at: 0)
    out.storeNative(sequence, at: 8)
    out.storeNative(portID, at: 12)
    return out
  }

  private mutating func pad() {
    while bytes.count % 4 != 0 { bytes.append(0) }
  }
}

/// One netlink message received from the kernel. Reading it never traps.
public struct NetlinkMessage: Sendable, Hashable {
  /// `nlmsg_type`.
  public let type: UInt16
  /// `nlmsg_flags`.
  public let flags: NetlinkMessageFlags
  /// `nlmsg_seq`.
  public let sequence: UInt32
  /// `nlmsg_pid`: the sender's port id (0 for the kernel).
  public let portID: UInt32
  /// Everything after the 16-byte header, up to `nlmsg_len`.
  public let payload: ArraySlice<UInt8>

  /// Splits a datagram into messages. Stops (returning what it has, plus an error text) at the
  /// first header whose length is impossible.
  public static func parse(
    _ datagram: ArraySlice<UInt8>
  ) -> (messages: [NetlinkMessage], problem: String?) {
    var messages: [NetlinkMessage] = []
    var offset = datagram.startIndex
    while datagram.endIndex - offset >= NetlinkMessageBuilder.headerLength {
      guard let length32 = datagram.loadNative(UInt32.self, at: offset),
        let type = datagram.loadNative(UInt16.self, at: offset + 4),
        let flags = datagram.loadNative(UInt16.self, at: offset + 6),
        let sequence = datagram.loadNative(UInt32.self, at: offset + 8),
        let portID = datagram.loadNative(UInt32.self, at: offset + 12)
      else { break }
      let length = Int(length32)
      guard length >= NetlinkMessageBuilder.headerLength, length <= datagram.endIndex - offset else {
        return (messages, "netlink message length \(length) at offset \(offset - datagram.startIndex)"
          + " does not fit the \(datagram.count)-byte datagram")
      }
      messages.append(
        NetlinkMessage(
          type: type, flags: NetlinkMessageFlags(rawValue: flags), sequence: sequence,
          portID: portID,
          payload: datagram[(offset + NetlinkMessageBuilder.headerLength)..<(offset + length)]))
      offset += (length + 3) & ~3
    }
    return (messages, nil)
  }

  /// The attributes after a fixed family header of `headerLength` bytes (rounded up to 4).
  public func attributes(afterHeaderOf headerLength: Int) -> NetlinkAttributes {
    let skip = (headerLength + 3) & ~3
    guard skip <= payload.count else { return NetlinkAttributes(payload[payload.endIndex...]) }
    return NetlinkAttributes(payload[(payload.startIndex + skip)...])
  }

  /// For `NLMSG_ERROR`: the error number (0 for an acknowledgement), positive, or `nil` when the
  /// message is too short or not an error message.
  public var errorNumber: CInt? {
    guard type == NetlinkControlType.error, let value = payload.loadNative(Int32.self, at: payload.startIndex)
    else { return nil }
    return -value
  }

  /// For `NLMSG_ERROR`: the sequence number of the request it answers.
  public var erroredSequence: UInt32? {
    guard type == NetlinkControlType.error else { return nil }
    return payload.loadNative(UInt32.self, at: payload.startIndex + 4 + 8)
  }

  /// For `NLMSG_ERROR` with extended acknowledgement (`NETLINK_EXT_ACK`): the kernel's text
  /// (`NLMSGERR_ATTR_MSG`), if it sent one.
  public var extendedAckMessage: String? {
    guard type == NetlinkControlType.error, flags.contains(NetlinkMessageFlags(rawValue: 0x200)),
      let originalLength = payload.loadNative(UInt32.self, at: payload.startIndex + 4)
    else { return nil }
    // NLM_F_CAPPED (0x100): only the original header was echoed.
    let echoed = flags.contains(NetlinkMessageFlags(rawValue: 0x100)) ? 16 : Int(originalLength)
    let start = 4 + ((echoed + 3) & ~3)
    guard start <= payload.count else { return nil }
    for attribute in NetlinkAttributes(payload[(payload.startIndex + start)...]) where attribute.type == 1 {
      return attribute.string
    }
    return nil
  }
}

/// One attribute (`struct nlattr`) read from a message.
public struct NetlinkAttribute: Sendable, Hashable {
  /// The attribute type without the `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits.
  public let type: UInt16
  /// Whether `NLA_F_NESTED` was set.
  public let isNested: Bool
  /// The payload (without padding).
  public let payload: ArraySlice<UInt8>

  /// A `UInt8` payload.
  public var uint8: UInt8? { payload.count >= 1 ? payload[payload.startIndex] : nil }
  /// A `UInt16` payload in host byte order.
  public var uint16: UInt16? { payload.loadNative(UInt16.self, at: payload.startIndex) }
  /// A `UInt32` payload in host byte order.
  public var uint32: UInt32? { payload.loadNative(UInt32.self, at: payload.startIndex) }
  /// A `UInt32` payload in network byte order, converted to host order.
  public var bigEndianUInt32: UInt32? { uint32.map { UInt32(bigEndian: $0) } }
  /// A `UInt64` payload in network byte order, converted to host order.
  public var bigEndianUInt64: UInt64? {
    payload.loadNative(UInt64.self, at: payload.startIndex).map { UInt64(bigEndian: $0) }
  }
  /// A string payload, up to the first NUL.
  public var string: String {
    let end = payload.firstIndex(of: 0) ?? payload.endIndex
    return String(decoding: payload[payload.startIndex..<end], as: UTF8.self)
  }
  /// The payload read as attributes.
  public var nested: NetlinkAttributes { NetlinkAttributes(payload) }
}

/// The attributes in a byte range, as a sequence. Iteration stops at the first attribute whose
/// length is impossible; it never traps.
public struct NetlinkAttributes: Sequence, Sendable {
  public let bytes: ArraySlice<UInt8>
  public init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  /// The first attribute of `type`.
  public subscript(type: UInt16) -> NetlinkAttribute? {
    first { $0.type == type }
  }

  public struct Iterator: IteratorProtocol {
    var bytes: ArraySlice<UInt8>
    var offset: Int
    public mutating func next() -> NetlinkAttribute? {
      guard bytes.endIndex - offset >= 4,
        let length16 = bytes.loadNative(UInt16.self, at: offset),
        let rawType = bytes.loadNative(UInt16.self, at: offset + 2)
      else { return nil }
      let length = Int(length16)
      guard length >= 4, length <= bytes.endIndex - offset else {
        offset = bytes.endIndex
        return nil
      }
      let attribute = NetlinkAttribute(
        type: rawType & 0x3FFF, isNested: rawType & NetlinkMessageBuilder.nestedFlag != 0,
        payload: bytes[(offset + 4)..<(offset + length)])
      offset = Swift.min(bytes.endIndex, offset + ((length + 3) & ~3))
      return attribute
    }
  }

  public func makeIterator() -> Iterator { Iterator(bytes: bytes, offset: bytes.startIndex) }
}

// MARK: - Byte helpers (native byte order, bounds-checked)

extension Array where Element == UInt8 {
  @inlinable mutating func appendNative<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
  }

  mutating func storeNative<T: FixedWidthInteger>(_ value: T, at offset: Int) {
    guard offset >= 0, offset + MemoryLayout<T>.size <= count else { return }
    withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: offset, as: T.self) }
  }

  func loadNative<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T? {
    self[...].loadNative(type, at: offset)
  }
}

extension ArraySlice where Element == UInt8 {
  /// Loads a `T` in host byte order at absolute index `index`; `nil` when it does not fit.
  func loadNative<T: FixedWidthInteger>(_ type: T.Type, at index: Int) -> T? {
    guard index >= startIndex, index <= endIndex - MemoryLayout<T>.size else { return nil }
    return withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index - startIndex, as: T.self) }
  }

  /// Loads a big-endian `T` at absolute index `index`.
  func loadBigEndian<T: FixedWidthInteger>(_ type: T.Type, at index: Int) -> T? {
    loadNative(type, at: index).map { T(bigEndian: $0) }
  }
}
