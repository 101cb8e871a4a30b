// Fragmenting an IPv6 packet at the source (RFC 8200 §4.5), as scapy's fragment6 does: for
// building the fragment edge cases (RFC 5722 overlaps, RFC 6946 atomic fragments, RFC 7112
// header chains split across fragments) and for sending more than a path MTU.

extension Packet {
  /// Fragments this IPv6 packet (RFC 8200 §4.5): the unfragmentable part (the IPv6 header and
  /// the Hop-by-Hop, Routing and — before a Routing header — Destination Options headers)
  /// is repeated in every fragment with its last next header set to 44, followed by a Fragment
  /// header (the first fragmentable header's type, the offset in 8-octet units, M, and
  /// `identification`) and the next piece of the fragmentable part. Every piece but the last is
  /// a multiple of 8 octets, as large as keeps each fragment within `maximumSize` bytes.
  ///
  /// The packet is encoded first (computed fields filled), so checksums cover the whole
  /// original packet, as the receiver's reassembly sees it. Fragmenting a packet that already
  /// has a Fragment header nests a second one inside the first's fragmentable part.
  ///
  /// - Returns: the fragments' bytes, in offset order (one fragment when everything fits: an
  ///   atomic fragment, RFC 6946).
  /// - Throws: what `encoded()` throws; `.invalidField(layer: .ipv6, ...)` when the packet does
  ///   not start with an IPv6 header or `maximumSize` leaves no room for 8 octets of data.
  public func ipv6Fragments(maximumSize: Int, identification: UInt32) throws(PacketError) -> [[UInt8]] {
    guard case .ipv6 = layers.first else {
      throw .invalidField(layer: .ipv6, field: "first layer", value: UInt64(layers.first?.kind == nil ? 0 : 1))
    }
    let bytes = try encoded()
    let slice = bytes[...]
    // The unfragmentable part: walk Hop-by-Hop, Destination Options and Routing headers; the
    // split goes after the last Hop-by-Hop or Routing header of that leading run.
    var nextHeaderField = IPv6Layout.nextHeader
    var splitNextHeaderField = nextHeaderField
    var offset = IPv6Layout.headerLength
    var split = offset
    while offset + 8 <= bytes.count {
      let type = bytes[nextHeaderField]
      guard type == 0 || type == 43 || type == 60 else { break }
      let length = (Int(bytes[offset + 1]) + 1) * 8
      guard offset + length <= bytes.count else { break }
      if type != 60 {
        split = offset + length
        splitNextHeaderField = offset
      }
      nextHeaderField = offset
      offset += length
    }
    let firstFragmentable = bytes[splitNextHeaderField]
    let fragmentable = slice.clampedSuffix(from: split)
    let piece = (maximumSize - split - 8) & ~7
    guard piece >= 8 else {
      throw .invalidField(layer: .ipv6Fragment, field: "maximumSize", value: UInt64(max(0, maximumSize)))
    }
    var fragments: [[UInt8]] = []
    var start = 0
    repeat {
      let count = min(piece, fragmentable.count - start)
      let isLast = start + count >= fragmentable.count
      var fragment = Array(bytes[..<split])
      fragment[splitNextHeaderField] = IPProtocol.ipv6Fragment.rawValue
      let payloadLength = split - IPv6Layout.headerLength + 8 + count
      guard payloadLength <= 0xFFFF else {
        throw .computedValueOutOfRange(layer: .ipv6, field: "payloadLength", value: UInt64(payloadLength))
      }
      fragment[4] = UInt8(truncatingIfNeeded: payloadLength >> 8)
      fragment[5] = UInt8(truncatingIfNeeded: payloadLength)
      let offsetField = UInt16(truncatingIfNeeded: (start / 8) << 3) | (isLast ? 0 : 1)
      fragment += [firstFragmentable, 0, UInt8(truncatingIfNeeded: offsetField >> 8), UInt8(truncatingIfNeeded: offsetField)]
      fragment += withUnsafeBytes(of: identification.bigEndian) { Array($0) }
      fragment += fragmentable.clampedSlice(from: start, count: count)
      fragments.append(fragment)
      start += count
    } while start < fragmentable.count
    return fragments
  }
}
