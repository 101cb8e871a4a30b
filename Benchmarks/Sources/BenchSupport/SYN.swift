import CReference
import PacketKit

/// The benchmark SYN: IPv4 (DF, TTL 64) + TCP with MSS, SACK-permitted, timestamps, NOP and
/// window scale (Linux's order), 60 bytes, both checksums computed. The C references fill the
/// same bytes from `cParameters`; `ratios` checks they agree byte for byte before timing.
public struct SYNFixture {
  public var source = IPv4Address(127, 0, 0, 1)
  public var destination = IPv4Address(127, 0, 0, 2)
  public var sourcePort: UInt16 = 57273
  public var destinationPort: UInt16 = 8080
  public var identification: UInt16 = 0x1234
  public var window: UInt16 = 65495
  public var mss: UInt16 = 65495
  public var windowScale: UInt8 = 7
  public var timestampValue: UInt32 = 1_525_310_591
  public var timestampEcho: UInt32 = 0

  /// Values come from memory at run time (this initialiser is not inlined), so neither compiler
  /// can fold the constant part of the checksums away.
  @inline(never) public init() {}

  public var ipv4: IPv4Header {
    IPv4Header(
      sourceAddress: source, destinationAddress: destination, identification: identification,
      flags: .dontFragment, timeToLive: 64)
  }

  public func tcp(sequenceNumber: UInt32) -> TCPHeader {
    TCPHeader(
      sourcePort: sourcePort, destinationPort: destinationPort, sequenceNumber: sequenceNumber,
      flags: .syn, window: window,
      options: [
        .maximumSegmentSize(mss), .sackPermitted,
        .timestamps(value: timestampValue, echoReply: timestampEcho), .noOperation,
        .windowScale(windowScale),
      ])
  }

  /// `ipv4 / tcp`, the DSL a user writes.
  public func packet(sequenceNumber: UInt32) -> Packet { ipv4 / tcp(sequenceNumber: sequenceNumber) }

  public var cParameters: cref_syn_params {
    cref_syn_params(
      source: source.rawValue, destination: destination.rawValue, source_port: sourcePort,
      destination_port: destinationPort, ack: 0, window: window, mss: mss, ipid: identification,
      ttl: 64, wscale: windowScale, ts_value: timestampValue, ts_echo: timestampEcho)
  }

  /// The bytes the C fill writes for `sequenceNumber`.
  public func cBytes(sequenceNumber: UInt32) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: Int(CREF_SYN_LENGTH))
    var parameters = cParameters
    bytes.withUnsafeMutableBufferPointer { cref_syn_fill($0.baseAddress, &parameters, sequenceNumber) }
    return bytes
  }
}

/// The IPv6 twin of `SYNFixture` (issue 14): IPv6 (hop limit 64, a flow label) + the same TCP
/// header and options, 80 bytes, the TCP checksum over the IPv6 pseudo-header.
public struct SYN6Fixture {
  public var source = IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)
  public var destination = IPv6Address(high: 0x2001_0db8_0000_0000, low: 2)
  public var flowLabel: UInt32 = 0x12345
  public var tcpFields = SYNFixture()

  @inline(never) public init() {}

  public var ipv6: IPv6Header {
    IPv6Header(sourceAddress: source, destinationAddress: destination, flowLabel: flowLabel, hopLimit: 64)
  }

  /// `ipv6 / tcp`, the DSL a user writes.
  public func packet(sequenceNumber: UInt32) -> Packet { ipv6 / tcpFields.tcp(sequenceNumber: sequenceNumber) }

  public var cParameters: cref_syn6_params {
    var parameters = cref_syn6_params()
    withUnsafeMutableBytes(of: &parameters.source) { raw in
      for (i, byte) in source.octets.enumerated() { raw[i] = byte }
    }
    withUnsafeMutableBytes(of: &parameters.destination) { raw in
      for (i, byte) in destination.octets.enumerated() { raw[i] = byte }
    }
    parameters.flow_label = flowLabel
    parameters.source_port = tcpFields.sourcePort
    parameters.destination_port = tcpFields.destinationPort
    parameters.window = tcpFields.window
    parameters.mss = tcpFields.mss
    parameters.hop_limit = 64
    parameters.wscale = tcpFields.windowScale
    parameters.ts_value = tcpFields.timestampValue
    parameters.ts_echo = tcpFields.timestampEcho
    return parameters
  }

  /// The bytes the C fill writes for `sequenceNumber`.
  public func cBytes(sequenceNumber: UInt32) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: Int(CREF_SYN6_LENGTH))
    var parameters = cParameters
    bytes.withUnsafeMutableBufferPointer { cref_syn6_fill($0.baseAddress, &parameters, sequenceNumber) }
    return bytes
  }
}

/// Keeps a value alive as far as the optimiser knows.
@inline(never) public func keepAlive<T>(_ value: T) {
  withExtendedLifetime(value) {}
}
