@testable import PacketKit
import TestSupport

/// SplitMix64: a seeded generator so random tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The plain RFC 1071 loop: 16-bit big-endian words into a 32-bit sum, odd byte padded with a
/// zero octet, carries folded, complemented. TestSupport's, independent of PacketKit.
func rfc1071(_ bytes: some Collection<UInt8>) -> UInt16 { HandBuilt.checksum(bytes) }

/// `bytes` copied into the middle of a bigger array, so the slice starts at a non-zero index.
func offsetSlice(_ bytes: [UInt8], by offset: Int = 7) -> ArraySlice<UInt8> {
  let padded = [UInt8](repeating: 0xEE, count: offset) + bytes + [0xEE, 0xEE, 0xEE]
  return padded[offset..<(offset + bytes.count)]
}

/// Encodes `packet` into a buffer prefilled with 0xA5 (so every byte must be written).
func encodeOverA5(_ packet: Packet) throws -> [UInt8] {
  var buffer = [UInt8](repeating: 0xA5, count: 200)
  try packet.encode(into: &buffer)
  return buffer
}

/// The chain of layers in an IPv4 packet, decoded with the views (no dissector): throws at the
/// first layer that does not validate.
func decodeIPv4Chain(_ bytes: ArraySlice<UInt8>) throws(PacketError) -> Packet {
  let ip = try IPv4View(validating: bytes)
  var layers: [Layer] = [.ipv4(IPv4Header(ip))]
  let payload = ip.payload
  switch ip.protocol {
  case .tcp:
    let tcp = try TCPView(validating: payload)
    layers.append(.tcp(TCPHeader(tcp)))
    if !tcp.payload.isEmpty { layers.append(.payload(Array(tcp.payload))) }
  case .udp:
    let udp = try UDPView(validating: payload)
    layers.append(.udp(UDPHeader(udp)))
    if !udp.payload.isEmpty { layers.append(.payload(Array(udp.payload))) }
  case .icmp:
    let icmp = try ICMPv4View(validating: payload)
    layers.append(.icmpv4(ICMPv4Header(icmp)))
    if !icmp.payload.isEmpty { layers.append(.payload(Array(icmp.payload))) }
  default:
    if !payload.isEmpty { layers.append(.payload(Array(payload))) }
  }
  return Packet(layers: layers)
}

/// 200 mutants of each IPv6 fixture (in the order of the fixtures' sorted names): one to four
/// random bytes changed, the version nibble kept at 6. The same `seed` gives the same mutants.
func ipv6Mutants(seed: UInt64) -> [[UInt8]] {
  var generator = SeededGenerator(seed: seed)
  var mutants: [[UInt8]] = []
  for name in ipv6Fixtures.keys.sorted() {
    guard let bytes = ipv6Fixtures[name] else { continue }
    for _ in 0..<200 {
      var mutant = bytes
      for _ in 0..<Int.random(in: 1...4, using: &generator) {
        let index = Int.random(in: 0..<mutant.count, using: &generator)
        mutant[index] = UInt8.random(in: 0...255, using: &generator)
      }
      mutant[0] = 0x60 | mutant[0] & 0x0F
      mutants.append(mutant)
    }
  }
  return mutants
}
