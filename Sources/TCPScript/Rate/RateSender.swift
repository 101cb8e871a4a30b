import Glibc
import PacketKit
import RawSocket
import Synchronization

// MARK: - Clock

/// The clock a rate sender paces by: monotonic time since an arbitrary start, and a way to wait.
/// Injected so that tests can check the pacing schedule without real time.
public protocol PacingClock {
  /// Monotonic time since an arbitrary, fixed start.
  func now() -> Duration
  /// Waits about `duration` (may wait longer; the pacer makes up for it).
  func sleep(for duration: Duration)
}

/// The real monotonic clock (`ContinuousClock`) with `nanosleep(2)` (RawSocket's `SystemSleep`).
public struct MonotonicPacingClock: PacingClock {
  private let clock = ContinuousClock()
  private let start: ContinuousClock.Instant

  public init() { start = clock.now }

  public func now() -> Duration { start.duration(to: clock.now) }

  /// EINTR: sleeps again for what is left (bounded), in `SystemSleep`.
  public func sleep(for duration: Duration) { SystemSleep.sleep(for: duration) }
}

// MARK: - Pacer

/// A token bucket in exact integer arithmetic: `rate` packets a second, at most `capacity`
/// packets of credit.
///
/// Credit is counted in units of 10⁻⁹ packet (a packet costs 1 000 000 000 units), refilled at
/// `rate` units per nanosecond of elapsed time, so there is no rounding drift: over any interval
/// starting at time 0, the packets allowed never exceed `1 + rate × t` (the first packet may go
/// at once), and while the sender keeps up they reach it.
public struct RatePacer: Hashable, Sendable {
  /// Packets per second (at least 1).
  public let rate: Int
  /// The most packets the bucket holds (at least 1): the largest batch, and how much a late
  /// sender may catch up at once.
  public let capacity: Int
  private static let unit: Int64 = 1_000_000_000
  private var credit: Int64
  private var lastRefill: Int64  // nanoseconds

  /// - Parameters:
  ///   - rate: packets per second; clamped to `1...100_000_000`.
  ///   - capacity: bucket size in packets; clamped to `1...1_000_000`.
  ///   - start: the time the schedule starts (the pacer's clock).
  public init(rate: Int, capacity: Int, start: Duration = .zero) {
    self.rate = min(max(1, rate), 100_000_000)
    self.capacity = min(max(1, capacity), 1_000_000)
    credit = Self.unit  // one packet may go at once
    lastRefill = start.nanoseconds
  }

  /// The batch size that suits `rate`: about a millisecond of packets, between 1 and `limit`.
  public static func batchSize(forRate rate: Int, limit: Int = 1024) -> Int {
    min(max(1, rate / 1000), max(1, limit))
  }

  /// Adds the credit earned since the last call, capped at `capacity`.
  public mutating func refill(at now: Duration) {
    let nanoseconds = now.nanoseconds
    guard nanoseconds > lastRefill else { return }
    let limit = Int64(capacity) * Self.unit
    let elapsed = nanoseconds - lastRefill
    lastRefill = nanoseconds
    // elapsed × rate can overflow only for elapsed beyond what fills the bucket anyway.
    let (earned, overflow) = elapsed.multipliedReportingOverflow(by: Int64(rate))
    credit = overflow ? limit : min(limit, credit + earned)
  }

  /// The packets that may go now (after a refill at `now`).
  public mutating func available(at now: Duration) -> Int {
    refill(at: now)
    return Int(credit / Self.unit)
  }

  /// Spends the credit of `packets` packets (no more than `available`).
  public mutating func consume(_ packets: Int) {
    credit -= Int64(min(max(0, packets), capacity)) * Self.unit
  }

  /// How long from the last refill until `packets` packets (at most `capacity`) are available.
  public func delay(until packets: Int) -> Duration {
    let needed = Int64(min(max(1, packets), capacity)) * Self.unit - credit
    guard needed > 0 else { return .zero }
    return .nanoseconds((needed + Int64(rate) - 1) / Int64(rate))
  }
}

extension Duration {
  /// Whole nanoseconds, saturating.
  var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return seconds < 0 ? .min : .max }
    return whole + attoseconds / 1_000_000_000
  }
}

// MARK: - Transmitters

/// Where a rate sender's packets go: it fills a batch in place, then flushes it.
public protocol BurstTransmitter: AnyObject {
  /// The most packets one batch holds.
  var batchCapacity: Int { get }
  /// The most bytes one packet may have.
  var maximumPacketLength: Int { get }
  /// Appends one packet: `write` fills up to `maximumLength` bytes and returns the count.
  /// Returns `false` when the batch is full.
  func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool
  /// Sends the batch. Returns how many packets were sent and how many failed; throws only for
  /// failures that make going on pointless (socket closed, ...).
  func flush() throws(SocketError) -> (sent: Int, failed: Int)
}

/// Layer 3: `RawIPv4Socket` (`IP_HDRINCL`) with `sendmmsg` batches. The kernel fills the IPv4
/// checksum and total length (and ID/source when 0); everything else goes out as built.
///
/// A packet the kernel refuses (`EPERM` from the firewall, `EMSGSIZE`) counts as failed and the
/// rest of the batch is still sent.
public final class RawIPv4Transmitter: BurstTransmitter {
  public let socket: RawIPv4Socket
  private let batch: SendBatch
  private var retry: SendBatch?
  /// Where the packets are routed: normally their destination address.
  public let destination: IPv4Address

  public var batchCapacity: Int { batch.capacity }
  public var maximumPacketLength: Int { SendBatch.maximumPacketLength }

  /// - Parameters:
  ///   - socket: an open raw socket (its owner closes it).
  ///   - destination: where every packet is routed.
  ///   - batchSize: packets per `sendmmsg` (1...1024).
  public init(socket: RawIPv4Socket, destination: IPv4Address, batchSize: Int = 256) {
    self.socket = socket
    self.destination = destination
    batch = SendBatch(capacity: min(max(1, batchSize), SendBatch.maximumMessagesPerCall), bytes: 64 * 1024)
  }

  public func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
    batch.append(to: destination.rawValue, maximumLength: maximumLength, write)
  }

  public func flush() throws(SocketError) -> (sent: Int, failed: Int) {
    defer { batch.removeAll() }
    return try send(batch)
  }

  /// Sends `current`; on a per-packet refusal, counts it and sends the rest.
  private func send(_ current: SendBatch) throws(SocketError) -> (sent: Int, failed: Int) {
    let capacity = batch.capacity
    let destination = destination.rawValue
    let socket = socket
    return try sendSkippingRefusals(
      current, spare: &retry, make: { SendBatch(capacity: capacity, bytes: 64 * 1024) },
      append: { batch, bytes in batch.append(bytes, to: destination) },
      send: { batch throws(SocketError) in try socket.send(batch: batch) })
  }
}

/// Layer 2: a `PacketTXRing` (`PACKET_TX_RING`, `TPACKET_V2`). Frames go out exactly as built
/// (Ethernet header included; the IPv4 header is not rewritten).
public final class TXRingTransmitter: BurstTransmitter {
  public let ring: PacketTXRing
  public let batchCapacity: Int

  /// - Parameters:
  ///   - ring: an open transmit ring (its owner closes it).
  ///   - batchSize: frames per flush (default: the ring's size).
  public init(ring: PacketTXRing, batchSize: Int? = nil) {
    self.ring = ring
    batchCapacity = min(max(1, batchSize ?? ring.geometry.frameCount), ring.geometry.frameCount)
  }

  public var maximumPacketLength: Int { ring.maximumFrameLength }

  public func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
    guard ring.queuedCount < batchCapacity else { return false }
    return ring.append(maximumLength: maximumLength, write)
  }

  public func flush() throws(SocketError) -> (sent: Int, failed: Int) {
    let result = try ring.flush()
    return (result.sent, result.discarded)
  }
}

// MARK: - Sender

/// How a rate send went, so far or in the end.
public struct RateReport: Hashable, Sendable, CustomStringConvertible {
  /// Why the sender stopped.
  public enum Stop: String, Hashable, Sendable {
    case count, duration, interrupted, error
  }

  /// Packets the kernel took.
  public var sent: Int
  /// Packets that failed (refused by the kernel, or a generator that threw).
  public var errors: Int
  /// Time since the first packet was due.
  public var elapsed: Duration
  /// `nil` while running.
  public var stop: Stop?
  /// The packets-per-second asked for (`nil`: as fast as possible).
  public var targetRate: Int?

  public init(sent: Int = 0, errors: Int = 0, elapsed: Duration = .zero, stop: Stop? = nil, targetRate: Int? = nil) {
    self.sent = sent
    self.errors = errors
    self.elapsed = elapsed
    self.stop = stop
    self.targetRate = targetRate
  }

  /// Sent packets per second of elapsed time (0 before any time passed).
  public var rate: Double {
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return seconds > 0 ? Double(sent) / seconds : 0
  }

  /// `12345 packets sent, 0 errors in 1.234 s (10004 packets/s)`.
  public var description: String {
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let target = targetRate.map { ", target \($0)" } ?? ""
    return "\(sent) packet\(sent == 1 ? "" : "s") sent, \(errors) error\(errors == 1 ? "" : "s") in "
      + RateReport.format(seconds, decimals: 3) + " s (" + RateReport.format(rate, decimals: 0) + " packets/s\(target))"
  }

  static func format(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (value * scale).rounded()
    guard abs(scaled) < 9e18 else { return String(value) }
    let whole = Int64(scaled)
    if decimals == 0 { return String(whole) }
    let divisor = Int64(scale)
    let fraction = String(abs(whole % divisor))
    return "\(whole / divisor)." + String(repeating: "0", count: max(0, decimals - fraction.count)) + fraction
  }
}

/// Sends a burst at rate: builds each packet in place in the transmitter's batch (template +
/// walks, or a generator), flushes batches (`sendmmsg`, or a TX ring flush), paces with a token
/// bucket on a monotonic clock when a rate is given, and always stops: after `count` packets,
/// after `maximumDuration`, or when asked (`requestStop()`, e.g. from SIGINT).
///
/// ```swift
/// let socket = try RawIPv4Socket()
/// var burst = try Burst(ip / tcp, walks: [.sequenceNumber(start: 1)])
/// let sender = RateSender(
///   burst: burst, transmitter: RawIPv4Transmitter(socket: socket, destination: .loopback),
///   count: 100_000, rate: 50_000)
/// let report = try sender.run()   // 100000 packets sent, 0 errors in 2.000 s (50000 packets/s)
/// ```
public final class RateSender {
  /// The default bound on a send's duration when none is given.
  public static let defaultMaximumDuration: Duration = .seconds(60)

  public private(set) var burst: Burst
  public let transmitter: any BurstTransmitter
  /// Packets to send (the walk indices `0..<count`).
  public let count: Int
  /// Packets per second, or `nil` for as fast as possible.
  public let rate: Int?
  /// The send stops when this much time has passed, whatever the count.
  public let maximumDuration: Duration
  /// Packets per batch.
  public let batchSize: Int
  private let clock: any PacingClock
  private let stopFlag = Atomic<Bool>(false)

  /// Called about every `progressInterval` while sending, and never more often.
  public var onProgress: ((RateReport) -> Void)?
  public var progressInterval: Duration = .milliseconds(250)
  /// How much a paced sender that fell behind (a late wake-up, a busy CPU) may catch up at once,
  /// as time at the rate (default 20 ms; at least two batches). The average rate is kept
  /// whatever this is, and the packets sent by time t never exceed 1 + rate × t.
  public var catchUp: Duration = .milliseconds(20)
  /// Checked before every batch: return `true` to stop (e.g. a flag a SIGINT handler set).
  public var shouldStop: (() -> Bool)?

  /// - Parameters:
  ///   - burst: the packets (index `i` for the `i`-th packet sent).
  ///   - transmitter: where they go.
  ///   - count: how many (at least 0).
  ///   - rate: packets per second; `nil` = as fast as the kernel takes them.
  ///   - maximumDuration: the bound on time (default one minute).
  ///   - batchSize: packets per batch; default about a millisecond of packets at `rate`, or the
  ///     transmitter's capacity when unpaced (at most the capacity either way).
  ///   - clock: the pacing clock (injected by tests).
  public init(
    burst: Burst, transmitter: any BurstTransmitter, count: Int, rate: Int? = nil,
    maximumDuration: Duration = RateSender.defaultMaximumDuration, batchSize: Int? = nil,
    clock: any PacingClock = MonotonicPacingClock()
  ) {
    self.burst = burst
    self.transmitter = transmitter
    self.count = max(0, count)
    self.rate = rate.map { min(max(1, $0), 100_000_000) }
    self.maximumDuration = maximumDuration > .zero ? maximumDuration : Self.defaultMaximumDuration
    let preferred = batchSize ?? (rate.map { RatePacer.batchSize(forRate: $0) } ?? transmitter.batchCapacity)
    self.batchSize = min(max(1, preferred), transmitter.batchCapacity)
    self.clock = clock
  }

  /// Asks a running `run()` to stop after the current batch (safe from any thread or a signal
  /// handler's flag poll).
  public func requestStop() { stopFlag.store(true, ordering: .relaxed) }

  /// Sends until the count is reached, the duration is up, or a stop was requested.
  ///
  /// - Returns: the report (`stop` says why it ended).
  /// - Throws: `SocketError` when the transmitter fails for good (the report so far is lost to
  ///   the caller; use `onProgress` to keep it).
  public func run() throws(SocketError) -> RateReport {
    var report = RateReport(targetRate: rate)
    var pacer = rate.map { rate in
      let catchUpPackets = Int(clamping: (Int64(rate) * max(0, catchUp.nanoseconds)) / 1_000_000_000)
      return RatePacer(rate: rate, capacity: max(2 * batchSize, catchUpPackets), start: clock.now())
    }
    let start = clock.now()
    var nextProgress = progressInterval
    var index = 0
    let maximumLength = min(burst.maximumLength, transmitter.maximumPacketLength)
    // Work on a local copy (no exclusivity check per packet on the class property); put it back
    // at the end so that `burst` shows the last packet's fields.
    var burst = self.burst
    defer { self.burst = burst }
    while true {
      let now = clock.now()
      report.elapsed = now - start
      if index >= count { report.stop = .count; break }
      if report.elapsed >= maximumDuration { report.stop = .duration; break }
      if stopFlag.load(ordering: .relaxed) || shouldStop?() == true { report.stop = .interrupted; break }
      var want = min(batchSize, count - index)
      if pacer != nil {
        let available = pacer?.available(at: now) ?? want
        if available < want {
          let wait = min(pacer?.delay(until: want) ?? .zero, maximumDuration - report.elapsed, .milliseconds(100))
          clock.sleep(for: max(wait, .nanoseconds(1)))
          continue
        }
        pacer?.consume(want)
      }
      // Fill the batch in place.
      var filled = 0
      var generatorErrors = 0
      var fullRounds = 0
      while filled < want {
        var tooLong = false
        let appended: Bool
        do throws(PacketError) {
          appended = try burst.withPacket(at: index + filled) { bytes in
            guard bytes.count <= maximumLength, bytes.count > 0 else {
              tooLong = true
              return true
            }
            return transmitter.append(maximumLength: bytes.count) { target in
              guard let source = bytes.baseAddress, let destination = target.baseAddress else { return 0 }
              destination.copyMemory(from: source, byteCount: bytes.count)
              return bytes.count
            }
          }
        } catch {
          generatorErrors += 1
          filled += 1
          continue
        }
        if tooLong {
          generatorErrors += 1
          filled += 1
          continue
        }
        guard appended else {
          if filled > 0 {
            want = filled  // the transmitter is full: send what we have
            break
          }
          // Full before the first packet: flush, and give up if that does not make room.
          fullRounds += 1
          if fullRounds > 3 { throw .system(operation: "queueing a packet", .noBufferSpace) }
          let result = try transmitter.flush()
          report.sent += result.sent
          report.errors += result.failed
          continue
        }
        fullRounds = 0
        filled += 1
      }
      index += want
      report.errors += generatorErrors
      let result = try transmitter.flush()
      report.sent += result.sent
      report.errors += result.failed
      if let onProgress, report.elapsed >= nextProgress {
        onProgress(report)
        nextProgress = report.elapsed + progressInterval
      }
    }
    report.elapsed = clock.now() - start
    return report
  }
}
