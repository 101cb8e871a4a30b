import PacketKit

/// One end of a TCP connection: an IPv4 or IPv6 address and a port. The unspecified address
/// (`0.0.0.0`, `::`) and port 0 mean "any" where a filter or a listener takes them.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
  public var address: IPAddress
  public var port: UInt16

  public init(address: IPAddress, port: UInt16) {
    self.address = address
    self.port = port
  }

  /// An IPv4 endpoint (`Endpoint(address: .loopback, port: 8080)` is 127.0.0.1:8080; an IPv6 one
  /// is `Endpoint(address: .v6(.loopback), port: 8080)`).
  public init(address: IPv4Address, port: UInt16) {
    self.init(address: .v4(address), port: port)
  }

  public init(_ address: IPv4Address, _ port: UInt16) {
    self.init(address: address, port: port)
  }

  /// The IPv4 address, or `nil` for an IPv6 endpoint.
  public var ipv4: IPv4Address? { address.ipv4 }
  /// The IPv6 address, or `nil` for an IPv4 endpoint.
  public var ipv6: IPv6Address? { address.ipv6 }
  /// The address family.
  public var family: IPAddress.Family { address.family }
  /// Whether the address is the unspecified one (`0.0.0.0`, `::`).
  public var isAnyAddress: Bool { address.isUnspecified }

  /// `127.0.0.1:8080`, `[::1]:8080`
  public var description: String { "\(address.bracketed):\(port)" }
}

/// An IP packet (IPv4 or IPv6) a transport captured, starting at the IP header.
public struct CapturedPacket: Sendable {
  public var bytes: [UInt8]
  public var timestampSeconds: Int64
  public var timestampNanoseconds: Int32
  /// The kernel left the transport checksum unfinished (CHECKSUM_PARTIAL): not "bad".
  public var checksumNotReady: Bool

  public init(bytes: [UInt8], timestampSeconds: Int64, timestampNanoseconds: Int32, checksumNotReady: Bool) {
    self.bytes = bytes
    self.timestampSeconds = timestampSeconds
    self.timestampNanoseconds = timestampNanoseconds
    self.checksumNotReady = checksumNotReady
  }
}

/// A segment a flow received: the decoded headers, the payload, and where it sits in the
/// transcript.
public struct Segment: Sendable {
  public var source: Endpoint
  public var destination: Endpoint
  public var flags: TCPFlags
  public var sequenceNumber: UInt32
  public var acknowledgmentNumber: UInt32
  public var window: UInt16
  public var options: [TCPOption]
  public var payload: [UInt8]
  /// The `tcpdump -nn -S -t` line.
  public var summary: String
  /// Index of this segment's entry in the flow's transcript.
  public var transcriptIndex: Int

  /// Sequence space the segment consumes (payload, +1 for SYN, +1 for FIN).
  public var sequenceLength: UInt32 {
    UInt32(truncatingIfNeeded: payload.count) &+ (flags.contains(.syn) ? 1 : 0)
      &+ (flags.contains(.fin) ? 1 : 0)
  }
}

/// What an expectation waits for: a pattern over flags and seq/ack relations.
///
/// `description` reads like a tcpdump line (`Flags [S.], ack 84347052`) so that a timeout or a
/// mismatch can say exactly what was awaited.
public struct SegmentPattern: Sendable, CustomStringConvertible {
  public var description: String
  /// Whether a RST is what we wait for (otherwise a RST ends the wait with `.reset`).
  public var acceptsReset: Bool
  private let test: @Sendable (Segment) -> Bool

  public init(_ description: String, acceptsReset: Bool = false, where test: @escaping @Sendable (Segment) -> Bool) {
    self.description = description
    self.acceptsReset = acceptsReset
    self.test = test
  }

  public func matches(_ segment: Segment) -> Bool { test(segment) }

  /// Any segment at all.
  public static var any: SegmentPattern { SegmentPattern("any segment", acceptsReset: true) { _ in true } }

  /// Exactly these flags (PSH ignored unless asked for), and optionally this seq and ack.
  public static func flags(_ flags: TCPFlags, seq: UInt32? = nil, ack: UInt32? = nil) -> SegmentPattern {
    var text = "Flags [\(flags.tcpdumpLetters)]"
    if let seq { text += ", seq \(seq)" }
    if let ack { text += ", ack \(ack)" }
    return SegmentPattern(text, acceptsReset: flags.contains(.rst)) { segment in
      var got = segment.flags
      if !flags.contains(.psh) { got.remove(.psh) }
      return got == flags && (seq == nil || segment.sequenceNumber == seq)
        && (ack == nil || segment.acknowledgmentNumber == ack)
    }
  }

  /// A SYN+ACK acknowledging our SYN (`ack` = ISN + 1).
  public static func synAcknowledging(_ ack: UInt32) -> SegmentPattern {
    SegmentPattern("Flags [S.], ack \(ack) (a SYN+ACK acknowledging our SYN)") { segment in
      segment.flags.contains([.syn, .ack]) && !segment.flags.contains(.rst)
        && segment.acknowledgmentNumber == ack
    }
  }

  /// A segment with ACK set whose ack covers `ack` (equal to it, or beyond in sequence space).
  public static func acknowledging(_ ack: UInt32, what: String = "") -> SegmentPattern {
    let suffix = what.isEmpty ? "" : " (\(what))"
    return SegmentPattern("Flags [.], ack \(ack)\(suffix)") { segment in
      segment.flags.contains(.ack) && !segment.flags.contains(.syn) && !segment.flags.contains(.rst)
        && SequenceSpace.lessOrEqual(ack, segment.acknowledgmentNumber)
    }
  }

  /// This pattern, or a SYN+ACK acknowledging `ack` (as in a simultaneous open).
  public func orSYNACK(_ ack: UInt32) -> SegmentPattern {
    let base = self
    return SegmentPattern(description, acceptsReset: acceptsReset) { segment in
      base.matches(segment)
        || (segment.flags.contains([.syn, .ack]) && !segment.flags.contains(.rst) && segment.acknowledgmentNumber == ack)
    }
  }

  /// A FIN (with or without ACK).
  public static var fin: SegmentPattern {
    SegmentPattern("Flags [F.] (the peer's FIN)") { $0.flags.contains(.fin) && !$0.flags.contains(.rst) }
  }

  /// The next segment from the peer, whatever it is (not a RST), described as `waitingFor`.
  public static func nextFromPeer(_ waitingFor: String) -> SegmentPattern {
    SegmentPattern(waitingFor) { !$0.flags.contains(.rst) }
  }

  /// A SYN without ACK (a client opening a connection).
  public static var syn: SegmentPattern {
    SegmentPattern("Flags [S] (a client's SYN)") { $0.flags.contains(.syn) && !$0.flags.contains(.ack) && !$0.flags.contains(.rst) }
  }

  /// A segment carrying data.
  public static var data: SegmentPattern {
    SegmentPattern("a segment with data") { !$0.payload.isEmpty && !$0.flags.contains(.rst) }
  }
}
