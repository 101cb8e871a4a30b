import Testing
@testable import PacketKit

@Suite struct InternetChecksumTests {
  /// One 2048 + 64-byte buffer; every start alignment 0...63 and every length 0...2048, for every
  /// kernel this CPU has. The reference is RFC 1071's loop, extended one byte at a time (the same
  /// sum, without re-adding the prefix for every length).
  @Test(arguments: InternetChecksumKernel.allCases.filter(\.isAvailable))
  func everyLengthAndAlignment(kernel: InternetChecksumKernel) {
    var generator = SeededGenerator(seed: 1071)
    let buffer = (0..<(2048 + 64)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    var mismatches = 0
    buffer.withUnsafeBytes { raw in
      for alignment in 0..<64 {
        var sum: UInt32 = 0
        for length in 0...2048 {
          if length > 0 {
            let byte = buffer[alignment + length - 1]
            sum += (length - 1) % 2 == 0 ? UInt32(byte) << 8 : UInt32(byte)
            sum = (sum & 0xFFFF) + (sum >> 16)
          }
          var folded = sum
          while folded >> 16 != 0 { folded = (folded & 0xFFFF) + (folded >> 16) }
          let expected = ~UInt16(folded)
          let slice = UnsafeRawBufferPointer(rebasing: raw[alignment..<(alignment + length)])
          let got = ~kernel.sum(slice)
          if got != expected {
            mismatches += 1
            if mismatches < 5 {
              Issue.record("kernel \(kernel) alignment \(alignment) length \(length): \(got) != \(expected)")
            }
          }
        }
      }
    }
    #expect(mismatches == 0)
  }

  /// The incremental reference above agrees with the plain loop (spot check on the same data).
  @Test func incrementalReferenceIsThePlainLoop() {
    var generator = SeededGenerator(seed: 1071)
    let buffer = (0..<(2048 + 64)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    for (alignment, length) in [(0, 0), (1, 1), (3, 20), (17, 1500), (63, 2048), (5, 777)] {
      var sum = InternetChecksum()
      sum.add(buffer[alignment..<(alignment + length)])
      #expect(sum.finalized == rfc1071(buffer[alignment..<(alignment + length)]))
    }
  }

  @Test func allZerosAndAllOnes() {
    #expect(InternetChecksum.checksum([UInt8](repeating: 0, count: 300)) == 0xFFFF)
    #expect(InternetChecksum.checksum([UInt8](repeating: 0xFF, count: 300)) == 0x0000)
    #expect(InternetChecksum.checksum([UInt8]()) == 0xFFFF)
    for kernel in InternetChecksumKernel.allCases where kernel.isAvailable {
      for count in [1, 2, 63, 64, 127, 128, 129, 1000, 65535] {
        let ones = [UInt8](repeating: 0xFF, count: count)
        #expect(ones.withUnsafeBytes { ~kernel.sum($0) } == rfc1071(ones), "\(kernel) \(count)")
      }
      // Past the AVX-512 kernel's 2 MiB blocks of 32-bit lanes, at both extremes of the biased
      // word values (all zeros: every lane at its most negative; all 0xFF: most positive).
      for byte: UInt8 in [0x00, 0xFF, 0x7F, 0x80] {
        let count = 3_000_001
        let bytes = [UInt8](repeating: byte, count: count)
        #expect(bytes.withUnsafeBytes { ~kernel.sum($0) } == rfc1071(bytes), "\(kernel) \(byte) \(count)")
      }
    }
  }

  /// Random buffers (seeded) up to 70000 bytes: the 64-bit lanes and long loops.
  @Test func randomBuffers() {
    var generator = SeededGenerator(seed: 42)
    for _ in 0..<40 {
      let count = Int.random(in: 0...70000, using: &generator)
      let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let expected = rfc1071(bytes)
      #expect(InternetChecksum.checksum(bytes) == expected)
      for kernel in InternetChecksumKernel.allCases where kernel.isAvailable {
        #expect(bytes.withUnsafeBytes { ~kernel.sum($0) } == expected, "\(kernel) \(count)")
      }
    }
  }

  /// Adding in pieces of any length (odd splits included), by bytes, single bytes, 16- and
  /// 32-bit values, equals adding it all at once; so does `combine`.
  @Test func oddSplitsAndCombine() {
    var generator = SeededGenerator(seed: 7)
    for _ in 0..<200 {
      let count = Int.random(in: 0...600, using: &generator)
      let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let expected = rfc1071(bytes)

      var pieces = InternetChecksum()
      var parts: [InternetChecksum] = []
      var index = 0
      while index < count {
        let take = min(count - index, Int.random(in: 1...9, using: &generator))
        let chunk = bytes[index..<(index + take)]
        var part = InternetChecksum()
        switch (take, Int.random(in: 0...2, using: &generator)) {
        case (1, _): pieces.add(byte: chunk.first ?? 0); part.add(byte: chunk.first ?? 0)
        case (2, 0):
          let value = UInt16(chunk[index]) << 8 | UInt16(chunk[index + 1])
          pieces.add(uint16: value); part.add(uint16: value)
        case (4, 0):
          let value = chunk.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
          pieces.add(uint32: value); part.add(uint32: value)
        case (_, 1): pieces.add(AnyCollection(chunk)); part.add(AnyCollection(chunk))
        default: pieces.add(chunk); part.add(chunk)
        }
        parts.append(part)
        index += take
      }
      #expect(pieces.finalized == expected)
      var combined = InternetChecksum()
      for part in parts { combined.combine(part) }
      #expect(combined.finalized == expected)
    }
  }

  /// RFC 1624 incremental update equals recomputation, for 16- and 32-bit fields.
  @Test func incrementalUpdate() {
    var generator = SeededGenerator(seed: 1624)
    for _ in 0..<2000 {
      var header = (0..<40).map { _ in UInt8.random(in: 0...255, using: &generator) }
      header[10] = 0
      header[11] = 0
      let checksum = rfc1071(header)
      header[10] = UInt8(checksum >> 8)
      header[11] = UInt8(checksum & 0xFF)
      #expect(rfc1071(header) == 0)

      let word = 2 * Int.random(in: 6...9, using: &generator)  // an even offset after the checksum
      let old16 = UInt16(header[word]) << 8 | UInt16(header[word + 1])
      let new16 = UInt16.random(in: 0...0xFFFF, using: &generator)
      header[word] = UInt8(new16 >> 8)
      header[word + 1] = UInt8(new16 & 0xFF)
      let updated16 = InternetChecksum.update(checksum, oldValue: old16, newValue: new16)
      header[10] = 0
      header[11] = 0
      #expect(updated16 == rfc1071(header))
      header[10] = UInt8(updated16 >> 8)
      header[11] = UInt8(updated16 & 0xFF)

      let field = 4 * Int.random(in: 4...9, using: &generator)
      let old32 = header[field..<(field + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      let new32 = UInt32.random(in: 0...UInt32.max, using: &generator)
      for i in 0..<4 { header[field + i] = UInt8(truncatingIfNeeded: new32 >> (24 - 8 * UInt32(i))) }
      let updated32 = InternetChecksum.update(updated16, oldValue: old32, newValue: new32)
      header[10] = 0
      header[11] = 0
      #expect(updated32 == rfc1071(header))
    }
  }

  /// RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d).
  @Test func rfc1071Example() {
    let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
    var sum = InternetChecksum()
    sum.add(bytes)
    #expect(sum.partialSum == 0xDDF2)
    #expect(sum.finalized == 0x220D)
  }
}
