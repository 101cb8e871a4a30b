extension UInt64 {
  /// The `width` bits from bit `shift` up, as a number (get); replaces them with the low `width`
  /// bits of the new value, leaving the others (set). The one piece of bit arithmetic behind the
  /// packed fields of `TCPHeader` and `IPv4Header`.
  @inlinable @inline(__always)
  internal subscript(bits shift: UInt64, width: UInt64) -> UInt64 {
    get { self >> shift & (1 << width &- 1) }
    set {
      let mask: UInt64 = (1 << width &- 1) << shift
      self = self & ~mask | newValue << shift & mask
    }
  }

  /// A field with an "is set" bit: the `width` bits from `shift`, or nil when bit `flag` is
  /// clear. Setting nil clears both.
  @inlinable @inline(__always)
  internal subscript(bits shift: UInt64, width: UInt64, setBit flag: UInt64) -> UInt64? {
    get { self[bits: flag, 1] == 0 ? nil : self[bits: shift, width] }
    set {
      self[bits: shift, width] = newValue ?? 0
      self[bits: flag, 1] = newValue == nil ? 0 : 1
    }
  }
}
