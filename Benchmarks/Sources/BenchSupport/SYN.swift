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

/// Keeps a value alive as far as the optimiser knows.
@inline(never) public func keepAlive<T>(_ value: T) {
  withExtendedLifetime(value) {}
}
