import CPlainChecksum
import CReference
import PacketKit

/// The Swift side of every comparison: loops over PacketKit's public API. Each returns a value
/// that depends on every iteration's result, so the work cannot be optimised away.
public enum SwiftWorkload {
  /// `InternetChecksum.add` + `partialSum` (what a user calls), `iterations` times.
  public static func checksum(_ buffer: UnsafeRawBufferPointer, iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    for i in 0..<iterations {
      var sum = InternetChecksum()
      sum.add(buffer)
      sink ^= UInt64(sum.partialSum) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  /// One of PacketKit's kernels directly (diagnosis only).
  public static func checksum(
    kernel: InternetChecksumKernel, _ buffer: UnsafeRawBufferPointer, iterations: Int
  ) -> UInt64 {
    var sink: UInt64 = 0
    for i in 0..<iterations {
      sink ^= UInt64(kernel.sum(buffer)) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  /// A new sequence number, then `Packet.encode(into:)` into the same buffer, both checksums
  /// computed. The TCP layer is replaced in place (`layers[1]`): no array is rebuilt.
  public static func encodeSYN(
    _ packet: inout Packet, buffer: inout [UInt8], seq0: UInt32, iterations: Int
  ) -> UInt64 {
    guard packet.layers.count > 1, case .tcp(var tcp) = packet.layers[1] else { return 0 }
    var sink: UInt64 = 0
    for i in 0..<iterations {
      tcp.sequenceNumber = seq0 &+ UInt32(truncatingIfNeeded: i)
      packet.layers[1] = .tcp(tcp)
      do { try packet.encode(into: &buffer) } catch { return 0 }
      sink ^= checksumBytes(buffer)
    }
    return sink
  }

  /// The same through the `packet.tcp` accessor (`packet.tcp?.sequenceNumber = seq`).
  public static func encodeSYNViaAccessor(
    _ packet: inout Packet, buffer: inout [UInt8], seq0: UInt32, iterations: Int
  ) -> UInt64 {
    var sink: UInt64 = 0
    for i in 0..<iterations {
      packet.tcp?.sequenceNumber = seq0 &+ UInt32(truncatingIfNeeded: i)
      do { try packet.encode(into: &buffer) } catch { return 0 }
      sink ^= checksumBytes(buffer)
    }
    return sink
  }

  /// `TCPSegmentTemplate.sequenceNumber = seq`: the RFC 1624 incremental path.
  public static func templateSequence(_ template: inout TCPSegmentTemplate, seq0: UInt32, iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    let at = template.tcpOffset + 16
    for i in 0..<iterations {
      template.sequenceNumber = seq0 &+ UInt32(truncatingIfNeeded: i)
      sink ^= UInt64(template.bytes[at]) << 8 | UInt64(template.bytes[at + 1])
    }
    return sink
  }

  /// `dissect(_:linkType: .ipv4)`: layers, problems, both checksums verified.
  public static func dissectSYN(_ bytes: [UInt8], iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    let slice = bytes[...]
    for i in 0..<iterations {
      let dissection = dissect(slice, linkType: .ipv4)
      sink &+= UInt64(dissection.layers.count) &+ UInt64(dissection.layers.last?.range.upperBound ?? 0)
        &+ UInt64(dissection.layers.first?.problems.count ?? 0) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  /// The zero-copy views: validate IPv4 and TCP, read the fields, walk the options, verify both
  /// checksums (what the hand-written C parser does).
  public static func parseSYNWithViews(_ bytes: [UInt8], iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    let slice = bytes[...]
    for i in 0..<iterations {
      sink &+= parseOnce(slice) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  @inline(__always)
  public static func parseOnce(_ slice: ArraySlice<UInt8>) -> UInt64 {
    guard let ip = try? IPv4View(validating: slice), ip.protocol == .tcp,
      let tcp = try? TCPView(validating: ip.payload)
    else { return 0 }
    var mss: UInt16 = 0
    var wscale: UInt8 = 0
    var tsValue: UInt32 = 0
    var sackPermitted = false
    for option in tcp.options {
      switch option {
      case .success(.maximumSegmentSize(let value)): mss = value
      case .success(.windowScale(let value)): wscale = value
      case .success(.timestamps(let value, _)): tsValue = value
      case .success(.sackPermitted): sackPermitted = true
      default: break
      }
    }
    let ipOK = ip.isChecksumValid
    let tcpOK = tcp.isChecksumValid(pseudoHeader: ip.pseudoHeader())
    return UInt64(tcp.sequenceNumber) ^ UInt64(mss) ^ UInt64(tsValue) ^ UInt64(wscale)
      &+ (sackPermitted ? 1 : 0) &+ (ipOK ? 2 : 0) &+ (tcpOK ? 4 : 0) &+ UInt64(tcp.sourcePort)
  }

  @inline(__always)
  static func checksumBytes(_ buffer: [UInt8]) -> UInt64 {
    guard buffer.count >= 38 else { return 0 }
    return UInt64(buffer[10]) << 24 | UInt64(buffer[11]) << 16 | UInt64(buffer[36]) << 8 | UInt64(buffer[37])
  }
}

/// The C side: loops written in C (CReference), called once per measurement.
public enum CWorkload {
  public static func checksum(kernel: Int32, _ buffer: UnsafeRawBufferPointer, iterations: Int) -> UInt64 {
    cref_run_checksum(kernel, buffer.baseAddress, buffer.count, UInt64(iterations))
  }

  public static func fillSYN(_ fixture: SYNFixture, buffer: UnsafeMutablePointer<UInt8>, seq0: UInt32, iterations: Int) -> UInt64 {
    var parameters = fixture.cParameters
    return cref_run_syn_fill(buffer, &parameters, seq0, UInt64(iterations))
  }

  public static func templateSYN(
    _ template: UnsafePointer<UInt8>, buffer: UnsafeMutablePointer<UInt8>, seq0: UInt32, iterations: Int
  ) -> UInt64 {
    cref_run_syn_template(buffer, template, seq0, UInt64(iterations))
  }

  public static func incrementalSYN(_ packet: UnsafeMutablePointer<UInt8>, seq0: UInt32, iterations: Int) -> UInt64 {
    cref_run_syn_incremental(packet, seq0, UInt64(iterations))
  }

  public static func parseSYN(_ bytes: UnsafePointer<UInt8>, count: Int, iterations: Int) -> UInt64 {
    cref_run_syn_parse(bytes, count, UInt64(iterations))
  }
}
