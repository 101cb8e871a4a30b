/// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): comparisons that survive the wrap.
public enum SequenceSpace {
  /// `a < b` in sequence space.
  @inlinable public static func less(_ a: UInt32, _ b: UInt32) -> Bool {
    Int32(bitPattern: a &- b) < 0
  }

  /// `a <= b` in sequence space.
  @inlinable public static func lessOrEqual(_ a: UInt32, _ b: UInt32) -> Bool {
    Int32(bitPattern: a &- b) <= 0
  }

  /// `start <= value < start + size` in sequence space (the window test of RFC 9293 §3.10.7.4).
  @inlinable public static func contains(_ value: UInt32, windowStart start: UInt32, size: UInt32) -> Bool {
    value &- start < size
  }

  /// `value - base` modulo 2^32: the relative number tcpdump prints without `-S`.
  @inlinable public static func offset(_ value: UInt32, from base: UInt32) -> UInt32 {
    value &- base
  }
}
