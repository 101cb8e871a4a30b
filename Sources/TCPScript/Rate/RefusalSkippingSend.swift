import RawSocket

/// What the refusal-skipping send needs of a RawSocket send batch (either family).
protocol RetryableSendBatch: AnyObject {
  var count: Int { get }
  var sentCount: Int { get }
  func removeAll()
  func packet(at index: Int) -> UnsafeRawBufferPointer?
}

extension SendBatch: RetryableSendBatch {}
extension IPv6SendBatch: RetryableSendBatch {}

/// Sends `current` with `send`; on a per-packet refusal (firewall, too long, unreachable, ...)
/// counts that packet as failed and sends the rest, copied with `append` into `spare` (made once
/// by `make` and kept for the next time; a fresh one when `spare` is the batch being retried).
/// Other errors are thrown. Shared by the IPv4 and IPv6 layer-3 transmitters.
func sendSkippingRefusals<Batch: RetryableSendBatch>(
  _ current: Batch, spare: inout Batch?, make: () -> Batch,
  append: (Batch, UnsafeRawBufferPointer) -> Void,
  send: (Batch) throws(SocketError) -> Int
) throws(SocketError) -> (sent: Int, failed: Int) {
  var sent = 0
  var failed = 0
  var pending = current
  // Each round either finishes or removes one packet: bounded by the batch size.
  for _ in 0...current.count {
    guard pending.count > 0 else { break }
    do throws(SocketError) {
      sent += try send(pending)
      return (sent, failed)
    } catch {
      switch error {
      case .blockedByFirewall, .partialSend, .system(_, .messageTooLong), .system(_, .invalidArgument),
        .system(_, .networkUnreachable), .system(_, .noBufferSpace), .system(_, .permissionDenied):
        sent += pending.sentCount
        failed += 1
        let restart = pending.sentCount + 1
        guard restart < pending.count else { return (sent, failed) }
        let next = spare ?? make()
        spare = next
        let copy = pending === next ? make() : next
        copy.removeAll()
        for index in restart..<pending.count {
          if let bytes = pending.packet(at: index) { append(copy, bytes) }
        }
        pending = copy
      default:
        throw error
      }
    }
  }
  return (sent, failed)
}
