/// The protocol layer an error or a dissected layer belongs to.
public enum ProtocolLayer: String, Hashable, Sendable, CaseIterable {
  case ethernet
  case linuxSLL
  case ipv4
  case tcp
  case udp
  case icmpv4
  case ipv6
  case ipv6HopByHop
  case ipv6Routing
  case ipv6Fragment
  case ipv6DestinationOptions
  case icmpv6
  case payload
}

/// Every error PacketKit throws (typed throws). Each case carries enough context to explain the
/// problem in terms of the packet: the layer, the field, the value, the byte counts.
public enum PacketError: Error, Hashable, Sendable {
  /// Fewer bytes than the layer needs: `needed` bytes were required, `available` were there.
  case truncated(layer: ProtocolLayer, needed: Int, available: Int)
  /// A field whose value makes the rest of the layer unparsable (IHL < 5, data offset < 5,
  /// IPv4 total length < header length, UDP length < 8).
  case invalidField(layer: ProtocolLayer, field: String, value: UInt64)
  /// A value set on a header (an override) that does not fit its wire field, e.g. a TCP data
  /// offset of 16 (4 bits on the wire). Never silently masked.
  case overrideOutOfRange(layer: ProtocolLayer, field: String, value: UInt64)
  /// A value PacketKit had to compute (because the field was `nil`) that does not fit its wire
  /// field, e.g. TCP options longer than 40 bytes or an IPv4 packet longer than 65535 bytes.
  case computedValueOutOfRange(layer: ProtocolLayer, field: String, value: UInt64)
  /// A TCP or UDP checksum left `nil` with no IPv4 header below to form the pseudo-header.
  case missingPseudoHeader
  /// An option whose length octet is 0 or 1 (it must count the kind and length octets).
  /// `offset` is the option's offset from the start of the options area.
  case invalidOptionLength(layer: ProtocolLayer, kind: UInt8, length: UInt8, offset: Int)
  /// An option whose length octet runs past the end of the options area (`available` bytes were
  /// left from the option's start), or whose length octet itself is missing (`length` 0).
  case optionOverrun(layer: ProtocolLayer, kind: UInt8, length: UInt8, available: Int, offset: Int)
}

extension PacketError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .truncated(let layer, let needed, let available):
      "\(layer): truncated, needs \(needed) bytes, \(available) available"
    case .invalidField(let layer, let field, let value):
      "\(layer): invalid \(field) \(value)"
    case .overrideOutOfRange(let layer, let field, let value):
      "\(layer): \(field) \(value) does not fit its wire field"
    case .computedValueOutOfRange(let layer, let field, let value):
      "\(layer): computed \(field) \(value) does not fit its wire field"
    case .missingPseudoHeader:
      "checksum needs an IPv4 or IPv6 header below for the pseudo-header (set the checksum explicitly)"
    case .invalidOptionLength(let layer, let kind, let length, let offset):
      "\(layer): option kind \(kind) at option offset \(offset) has invalid length \(length)"
    case .optionOverrun(let layer, let kind, let length, let available, let offset):
      length == 0
        ? "\(layer): option kind \(kind) at option offset \(offset) has no length octet"
        : "\(layer): option kind \(kind) at option offset \(offset) has length \(length) but only \(available) bytes remain"
    }
  }
}
