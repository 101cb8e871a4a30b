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

  /// Diagnosis: only the encode workload's own step, `packet.layers[1] = .tcp(tcp)` with a new
  /// sequence number (no encode), to show what the layer rebuild costs by itself.
  public static func replaceTCPLayer(_ packet: inout Packet, seq0: UInt32, iterations: Int) -> UInt64 {
    guard packet.layers.count > 1, case .tcp(var tcp) = packet.layers[1] else { return 0 }
    var sink: UInt64 = 0
    for i in 0..<iterations {
      tcp.sequenceNumber = seq0 &+ UInt32(truncatingIfNeeded: i)
      packet.layers[1] = .tcp(tcp)
      sink &+= UInt64(packet.layers.count)
    }
    return sink
  }

  /// Diagnosis: `IPv4Header.encode(_:payload:into:)`, no `Packet` (the headers are local values,
  /// nothing is copied out of or into a layer array): the encoder's own cost.
  public static func encodeSYNDirect(
    _ packet: Packet, buffer: inout [UInt8], seq0: UInt32, iterations: Int
  ) -> UInt64 {
    guard packet.layers.count > 1, case .ipv4(let ip) = packet.layers[0], case .tcp(var tcp) = packet.layers[1]
    else { return 0 }
    var sink: UInt64 = 0
    for i in 0..<iterations {
      tcp.sequenceNumber = seq0 &+ UInt32(truncatingIfNeeded: i)
      do { try ip.encode(tcp, into: &buffer) } catch { return 0 }
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

  /// `dissect(_:linkType:)` (`.ipv4` for the IPv4 SYN, `.ipv6` for the IPv6 one): layers,
  /// problems, every checksum verified.
  public static func dissectSYN(_ bytes: [UInt8], linkType: LinkType = .ipv4, iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    let slice = bytes[...]
    for i in 0..<iterations {
      let dissection = dissect(slice, linkType: linkType)
      sink &+= UInt64(dissection.layers.count) &+ UInt64(dissection.layers.last?.range.upperBound ?? 0)
        &+ UInt64(dissection.layers.first?.problems.count ?? 0) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  /// `dissectLayers(_:linkType:)` over a `RawSpan`: the same walk and layers as `dissect`,
  /// without a `Dissection` holding the bytes (no reference counting).
  public static func dissectSYNLayers(_ bytes: [UInt8], linkType: LinkType = .ipv4, iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    for i in 0..<iterations {
      let layers = dissectLayers(bytes.span.bytes, linkType: linkType)
      sink &+= UInt64(layers.count) &+ UInt64(layers.last?.range.upperBound ?? 0)
        &+ UInt64(layers.first?.problems.count ?? 0) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  /// The non-escapable span views: validate IPv4 and TCP, read the fields, walk the options,
  /// verify both checksums (what the hand-written C parser does). No reference counting.
  public static func parseSYNWithSpanViews(_ bytes: [UInt8], iterations: Int) -> UInt64 {
    var sink: UInt64 = 0
    for i in 0..<iterations {
      sink &+= parseOnce(bytes.span.bytes) &+ UInt64(truncatingIfNeeded: i)
    }
    return sink
  }

  @inline(__always)
  public static func parseOnce(_ span: RawSpan) -> UInt64 {
    guard let ip = try? IPv4SpanView(validating: span), ip.protocol == .tcp,
      let tcp = try? TCPSpanView(validating: ip.payload)
    else { return 0 }
    var reading = SYNReading()
    var options = tcp.options
    while let option = options.next() { reading.note(option) }
    return reading.value(
      sequenceNumber: tcp.sequenceNumber, sourcePort: tcp.sourcePort, ipChecksumOK: ip.isChecksumValid,
      tcpChecksumOK: tcp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
  }

  /// The `ArraySlice` views (`IPv4View`, `TCPView`): the same work; each view and slice retains
  /// the array (diagnosis row).
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
    var reading = SYNReading()
    for option in tcp.options { reading.note(option) }
    return reading.value(
      sequenceNumber: tcp.sequenceNumber, sourcePort: tcp.sourcePort, ipChecksumOK: ip.isChecksumValid,
      tcpChecksumOK: tcp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
  }

  /// The IPv6 SYN: a new sequence number, the TCP layer replaced in place, `encode(into:)` (the
  /// TCP checksum over the IPv6 pseudo-header).
  public static func encodeSYN6(
    _ packet: inout Packet, buffer: inout [UInt8], seq0: UInt32, iterations: Int
  ) -> UInt64 {
    guard packet.layers.count > 1, case .tcp(var tcp) = packet.layers[1] else { return 0 }
    var sink: UInt64 = 0
    for i in 0..<iterations {
      tcp.sequenceNumber = seq0 &+ UInt32(truncatingIfNeeded: i)
      packet.layers[1] = .tcp(tcp)
      do { try packet.encode(into: &buffer) } catch { return 0 }
      sink ^= buffer.count >= 58 ? UInt64(buffer[56]) << 8 | UInt64(buffer[57]) : 0
    }
    return sink
  }

  @inline(__always)
  static func checksumBytes(_ buffer: [UInt8]) -> UInt64 {
    guard buffer.count >= 38 else { return 0 }
    return UInt64(buffer[10]) << 24 | UInt64(buffer[11]) << 16 | UInt64(buffer[36]) << 8 | UInt64(buffer[37])
  }
}

/// What both view workloads (span and `ArraySlice`) read from the SYN's options, and the value
/// they fold it all into (what the C parser reports).
struct SYNReading {
  var mss: UInt16 = 0
  var wscale: UInt8 = 0
  var tsValue: UInt32 = 0
  var sackPermitted = false

  @inline(__always)
  mutating func note(_ option: Result<TCPOption, PacketError>) {
    switch option {
    case .success(.maximumSegmentSize(let value)): mss = value
    case .success(.windowScale(let value)): wscale = value
    case .success(.timestamps(let value, _)): tsValue = value
    case .success(.sackPermitted): sackPermitted = true
    default: break
    }
  }

  @inline(__always)
  func value(sequenceNumber: UInt32, sourcePort: UInt16, ipChecksumOK: Bool, tcpChecksumOK: Bool) -> UInt64 {
    UInt64(sequenceNumber) ^ UInt64(mss) ^ UInt64(tsValue) ^ UInt64(wscale)
      &+ (sackPermitted ? 1 : 0) &+ (ipChecksumOK ? 2 : 0) &+ (tcpChecksumOK ? 4 : 0) &+ UInt64(sourcePort)
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

  public static func fillSYN6(_ fixture: SYN6Fixture, buffer: UnsafeMutablePointer<UInt8>, seq0: UInt32, iterations: Int) -> UInt64 {
    var parameters = fixture.cParameters
    return cref_run_syn6_fill(buffer, &parameters, seq0, UInt64(iterations))
  }

  public static func parseSYN6(_ bytes: UnsafePointer<UInt8>, count: Int, iterations: Int) -> UInt64 {
    cref_run_syn6_parse(bytes, count, UInt64(iterations))
  }
}
