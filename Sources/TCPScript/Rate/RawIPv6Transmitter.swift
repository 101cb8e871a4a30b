import PacketKit
import RawSocket

/// Layer 3 over IPv6: `RawIPv6Socket` (`IPV6_HDRINCL`) with `sendmmsg` batches, the twin of
/// `RawIPv4Transmitter`. The kernel rewrites nothing in an IPv6 header we give it: payload
/// length, flow label, hop limit and source go out as built (see `RawIPv6Socket`).
///
/// A packet the kernel refuses (`EPERM` from the firewall, `EMSGSIZE`) counts as failed and the
/// rest of the batch is still sent.
public final class RawIPv6Transmitter: BurstTransmitter {
  public let socket: RawIPv6Socket
  private let batch: IPv6SendBatch
  private var retry: IPv6SendBatch?
  /// Where the packets are routed: normally their destination address.
  public let destination: IPv6Address

  public var batchCapacity: Int { batch.capacity }
  public var maximumPacketLength: Int { IPv6SendBatch.maximumPacketLength }

  /// - Parameters:
  ///   - socket: an open raw IPv6 socket (its owner closes it).
  ///   - destination: where every packet is routed.
  ///   - scopeID: the interface index for a link-local destination (0: none).
  ///   - batchSize: packets per `sendmmsg` (1...1024).
  public init(socket: RawIPv6Socket, destination: IPv6Address, scopeID: UInt32 = 0, batchSize: Int = 256) {
    self.socket = socket
    self.destination = destination
    let capacity = min(max(1, batchSize), IPv6SendBatch.maximumMessagesPerCall)
    batch = Self.makeBatch(destination, scopeID: scopeID, capacity: capacity)
  }

  private static func makeBatch(_ destination: IPv6Address, scopeID: UInt32, capacity: Int) -> IPv6SendBatch {
    IPv6SendBatch(destination: destination.octets, scopeID: scopeID, capacity: capacity)
  }

  public func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
    batch.append(maximumLength: maximumLength, write)
  }

  public func flush() throws(SocketError) -> (sent: Int, failed: Int) {
    defer { batch.removeAll() }
    return try send(batch)
  }

  /// Sends `current`; on a per-packet refusal, counts it and sends the rest.
  private func send(_ current: IPv6SendBatch) throws(SocketError) -> (sent: Int, failed: Int) {
    let (destination, scopeID, capacity) = (destination, batch.scopeID, batch.capacity)
    let socket = socket
    return try sendSkippingRefusals(
      current, spare: &retry, make: { Self.makeBatch(destination, scopeID: scopeID, capacity: capacity) },
      append: { batch, bytes in batch.append(bytes) },
      send: { batch throws(SocketError) in try socket.send(batch: batch) })
  }
}
