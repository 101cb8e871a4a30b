/// The IPv6 side of `TCPSegmentTemplate`: an IPv6 header (extension headers allowed) followed
/// by TCP, changed in place for sending at rate.
///
/// What differs from IPv4: there is no IP header checksum to keep; the payload length is fixed
/// by the template's length (the encode computed it once); the TCP checksum covers the IPv6
/// pseudo-header (RFC 8200 §8.1: source, destination, upper-layer length, next header 6), none
/// of whose fields a walk changes, so the RFC 1624 update of the TCP fields is the same as over
/// IPv4. The flow label and hop limit are outside every checksum: they change with a store.
///
/// ```swift
/// let syn = IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback)
///   / TCPHeader(sourcePort: 40000, destinationPort: 9, flags: .syn)
/// var template = try TCPSegmentTemplate(syn)     // template.ipVersion == 6
/// template.sequenceNumber = 1000                 // TCP checksum still right
/// template.flowLabel = 0x12345
/// ```
extension TCPSegmentTemplate {
  /// Offset of the IP header (IPv4 or IPv6) in `bytes`.
  public var ipOffset: Int { ipv4Offset }

  /// Where the IPv6 header and the TCP header sit when `packet` holds IPv6, then only
  /// extension headers (Hop-by-Hop, Destination Options, Routing, Fragment), then TCP.
  static func locateIPv6TCP(_ packet: Packet) -> (ip: Int, tcp: Int, tcpChecksumComputed: Bool)? {
    var offset = 0
    var ipAt: Int?
    for layer in packet.layers {
      switch layer {
      case .ipv6:
        ipAt = offset
      case .ipv6Options, .ipv6Routing, .ipv6Fragment:
        break  // extension headers keep the IPv6 header in view
      case .tcp(let tcp):
        if let ipAt { return (ipAt, offset, tcp.checksum == nil) }
        return nil
      default:
        ipAt = nil
      }
      offset += layer.encodedLength
    }
    return nil
  }

  /// The IPv6 flow label (20 bits; higher bits are ignored). Reads 0 and changes nothing on an
  /// IPv4 template. No checksum covers it.
  public var flowLabel: UInt32 {
    get {
      guard ipVersion == 6 else { return 0 }
      let at = ipv4Offset + IPv6Layout.versionClassAndFlow
      return (UInt32(bytes[at + 1] & 0x0F) << 16) | (UInt32(bytes[at + 2]) << 8) | UInt32(bytes[at + 3])
    }
    set {
      guard ipVersion == 6 else { return }
      let at = ipv4Offset + IPv6Layout.versionClassAndFlow
      let label = newValue & 0xF_FFFF
      bytes[at + 1] = bytes[at + 1] & 0xF0 | UInt8(truncatingIfNeeded: label >> 16)
      bytes[at + 2] = UInt8(truncatingIfNeeded: label >> 8)
      bytes[at + 3] = UInt8(truncatingIfNeeded: label)
    }
  }

  /// The IPv6 hop limit. Reads 0 and changes nothing on an IPv4 template (IPv4's TTL is under
  /// its header checksum: not walked here). No checksum covers it.
  public var hopLimit: UInt8 {
    get { ipVersion == 6 ? bytes[ipv4Offset + IPv6Layout.hopLimit] : 0 }
    set {
      guard ipVersion == 6 else { return }
      bytes[ipv4Offset + IPv6Layout.hopLimit] = newValue
    }
  }
}
