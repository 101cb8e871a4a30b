/// IPv4 and TCP bytes written by hand for tests that must not rely on PacketKit (RawSocket never
/// imports it) or that check PacketKit against an independent writer. The checksum is the plain
/// RFC 1071 loop.
public enum HandBuilt {
  /// RFC 1071 Internet checksum over `bytes` (16-bit big-endian words, an odd last byte padded
  /// with a zero octet), starting from the unfolded sum `initial`.
  public static func checksum(_ bytes: some Collection<UInt8>, initial: UInt32 = 0) -> UInt16 {
    var sum = UInt64(initial)
    var iterator = bytes.makeIterator()
    while let high = iterator.next() {
      let low = iterator.next() ?? 0
      sum += UInt64(high) << 8 | UInt64(low)
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
  }

  public static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
  public static func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }

  /// An IPv4 header (IHL from `options`) followed by `payload`. `flagsAndFragment` is the 16-bit
  /// word at offset 6 (0x4000: DF). The checksum is correct unless `badChecksum` (then XOR 0x5A5A),
  /// or 0 when `checksum` is false (the kernel fills it for IP_HDRINCL sends).
  public static func ipv4(
    source: UInt32, destination: UInt32, protocol proto: UInt8, identification: UInt16,
    payload: [UInt8], ttl: UInt8 = 64, flagsAndFragment: UInt16 = 0x4000, options: [UInt8] = [],
    checksum computeChecksum: Bool = true, badChecksum: Bool = false
  ) -> [UInt8] {
    let headerLength = 20 + options.count
    var header: [UInt8] = [0x40 | UInt8(truncatingIfNeeded: headerLength / 4), 0x00]
    header += be16(UInt16(truncatingIfNeeded: headerLength + payload.count)) + be16(identification)
    header += be16(flagsAndFragment) + [ttl, proto, 0x00, 0x00] + be32(source) + be32(destination) + options
    if computeChecksum {
      var sum = checksum(header)
      if badChecksum { sum ^= 0x5A5A }
      header[10] = UInt8(sum >> 8)
      header[11] = UInt8(sum & 0xFF)
    }
    return header + payload
  }

  /// A 20-byte TCP header (no options) with `payload`, checksum over the IPv4 pseudo-header
  /// (XOR 0x5A5A when `badChecksum`).
  public static func tcp(
    source: UInt32, destination: UInt32, sourcePort: UInt16, destinationPort: UInt16,
    sequence: UInt32, acknowledgment: UInt32 = 0, flags: UInt8 = 0x02, window: UInt16 = 65_535,
    payload: [UInt8] = [], badChecksum: Bool = false
  ) -> [UInt8] {
    var segment = be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment)
    segment += [0x50, flags] + be16(window) + [0, 0, 0, 0] + payload
    let pseudo = be32(source) + be32(destination) + [0, 6] + be16(UInt16(truncatingIfNeeded: segment.count))
    var sum = checksum(pseudo + segment)
    if badChecksum { sum ^= 0x5A5A }
    segment[16] = UInt8(sum >> 8)
    segment[17] = UInt8(sum & 0xFF)
    return segment
  }
}
