// The rate sender's arithmetic, without real time: the token bucket's schedule with an injected
// clock, batch sizing, stopping rules, and the burst's field walks checked against packets
// encoded from scratch and against a plain RFC 1071 checksum loop written here.
import PacketKit
import RawSocket
import Testing
import TestSupport
@testable import TCPScript

/// A clock that only moves when the sender sleeps (plus what the transmitter says a send cost).
final class FakePacingClock: PacingClock {
  var time: Duration = .zero
  /// Added to every sleep (a late wake-up, as real sleeps have).
  var oversleep: Duration = .zero
  private(set) var sleeps: [Duration] = []

  func now() -> Duration { time }
  func sleep(for duration: Duration) {
    sleeps.append(duration)
    time += duration + oversleep
  }
}

/// Keeps every packet and the (time, count) of every flush; a flush costs `costPerPacket` of
/// fake time.
final class RecordingTransmitter: BurstTransmitter {
  let clock: FakePacingClock
  let batchCapacity: Int
  let maximumPacketLength = 65_535
  var costPerPacket: Duration = .zero
  /// Packets at these indices (in send order) are refused by the "kernel".
  var refuse: Set<Int> = []
  private(set) var packets: [[UInt8]] = []
  private(set) var flushes: [(time: Duration, count: Int)] = []
  private var pending: [[UInt8]] = []
  private var scratch = [UInt8](repeating: 0, count: 65_535)

  init(clock: FakePacingClock, batchCapacity: Int = 1024) {
    self.clock = clock
    self.batchCapacity = batchCapacity
  }

  func append(maximumLength: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
    guard pending.count < batchCapacity else { return false }
    let length = scratch.withUnsafeMutableBytes { write(UnsafeMutableRawBufferPointer(rebasing: $0[0..<maximumLength])) }
    pending.append(Array(scratch[0..<length]))
    return true
  }

  func flush() throws(SocketError) -> (sent: Int, failed: Int) {
    var sent = 0
    var failed = 0
    for packet in pending {
      if refuse.contains(packets.count + failed + sent) { failed += 1 } else { sent += 1 }
      _ = packet
    }
    packets += pending
    flushes.append((clock.time, pending.count))
    clock.time += costPerPacket * pending.count
    pending.removeAll()
    return (sent, failed)
  }
}

/// RFC 1071, the plain loop (TestSupport's, independent of PacketKit).
func referenceChecksum(_ bytes: some Collection<UInt8>) -> UInt16 { HandBuilt.checksum(bytes) }

/// Whether an IPv4+TCP packet's two checksums verify (sum over covered bytes folds to 0).
func checksumsVerify(_ packet: [UInt8]) -> Bool {
  guard packet.count >= 40 else { return false }
  let ihl = Int(packet[0] & 0x0F) * 4
  let total = Int(packet[2]) << 8 | Int(packet[3])
  guard referenceChecksum(packet[0..<ihl]) == 0, total == packet.count else { return false }
  let segment = Array(packet[ihl...])
  let pseudo = Array(packet[12..<20]) + [0, 6, UInt8(segment.count >> 8), UInt8(segment.count & 0xFF)]
  return referenceChecksum(pseudo + segment) == 0
}

let loopback = IPv4Address(127, 0, 0, 1)

func synTemplate(sourcePort: UInt16 = 40_000, destinationPort: UInt16 = 9) -> Packet {
  IPv4Header(sourceAddress: loopback, destinationAddress: loopback, identification: 1, flags: .dontFragment)
    / TCPHeader(sourcePort: sourcePort, destinationPort: destinationPort, sequenceNumber: 0, flags: .syn, window: 64_240)
}

@Suite("Rate sending: pacer, sender rules, burst walks")
struct RateTests {
  @Test("Batch size is about a millisecond of packets, between 1 and the limit")
  func batchSizes() {
    #expect(RatePacer.batchSize(forRate: 1) == 1)
    #expect(RatePacer.batchSize(forRate: 999) == 1)
    #expect(RatePacer.batchSize(forRate: 10_000) == 10)
    #expect(RatePacer.batchSize(forRate: 250_000) == 250)
    #expect(RatePacer.batchSize(forRate: 5_000_000) == 1024)
    #expect(RatePacer.batchSize(forRate: 5_000_000, limit: 64) == 64)
  }

  @Test("Token bucket: one packet at once, then rate × time, capped at the capacity")
  func pacerArithmetic() {
    var pacer = RatePacer(rate: 10_000, capacity: 20)
    #expect(pacer.available(at: .zero) == 1)
    #expect(pacer.delay(until: 10) == .microseconds(900), "9 more packets at 100 µs each")
    #expect(pacer.available(at: .microseconds(899)) == 9)
    #expect(pacer.available(at: .microseconds(900)) == 10)
    pacer.consume(10)
    #expect(pacer.available(at: .microseconds(900)) == 0)
    #expect(pacer.delay(until: 1) == .microseconds(100))
    #expect(pacer.available(at: .seconds(5)) == 20, "capped at the capacity after a long pause")
    pacer.consume(20)
    #expect(pacer.available(at: .seconds(5)) == 0)
    // Time going backwards (it cannot with a monotonic clock) earns nothing.
    #expect(pacer.available(at: .seconds(4)) == 0)
    // Extreme values neither trap nor overflow.
    var fast = RatePacer(rate: Int.max, capacity: Int.max)
    #expect(fast.rate == 100_000_000)
    #expect(fast.available(at: .seconds(1_000_000_000)) == fast.capacity)
    var slow = RatePacer(rate: 0, capacity: 0)
    #expect(slow.rate == 1 && slow.capacity == 1)
    #expect(slow.delay(until: 5) == .zero, "one packet of credit is there from the start")
    slow.consume(1)
    #expect(slow.delay(until: 1) == .seconds(1))
  }

  @Test("Paced exactly: never ahead of 1 + rate × t, and done at (N − 1) / rate", arguments: [1, 7, 10_000, 123_457])
  func pacedSchedule(rate: Int) throws {
    let clock = FakePacingClock()
    let transmitter = RecordingTransmitter(clock: clock)
    let count = min(25_000, rate * 3 + 5)
    let sender = RateSender(
      burst: try Burst(synTemplate(), walks: [.sequenceNumber(start: 0)]), transmitter: transmitter,
      count: count, rate: rate, maximumDuration: .seconds(3600), clock: clock)
    let report = try sender.run()
    #expect(report.stop == .count)
    #expect(report.sent == count)
    #expect(report.errors == 0)
    #expect(transmitter.packets.count == count)
    var cumulative = 0
    for flush in transmitter.flushes {
      cumulative += flush.count
      // cumulative ≤ 1 + rate × t, in exact integers (t in nanoseconds).
      let allowed = 1 + Int(clamping: (Int128(flush.time.nanoseconds) * Int128(rate)) / 1_000_000_000)
      #expect(cumulative <= allowed, "\(cumulative) packets by \(flush.time)")
      #expect(flush.count <= sender.batchSize)
    }
    // With no late wake-ups and free sends, the last packet goes exactly when it is due.
    let due = Int128(count - 1) * 1_000_000_000
    let lastNanoseconds = Int128(transmitter.flushes.last?.time.nanoseconds ?? 0)
    #expect(lastNanoseconds * Int128(rate) >= due)
    #expect(lastNanoseconds * Int128(rate) < due + Int128(rate), "within a nanosecond of the due time")
  }

  @Test("Late wake-ups are made up for: the average rate is kept, the bound still holds")
  func oversleepCaughtUp() throws {
    let clock = FakePacingClock()
    clock.oversleep = .microseconds(370)
    let transmitter = RecordingTransmitter(clock: clock)
    transmitter.costPerPacket = .nanoseconds(700)
    let rate = 50_000
    let count = 100_000
    let sender = RateSender(
      burst: try Burst(synTemplate(), walks: [.sequenceNumber(start: 0)]), transmitter: transmitter,
      count: count, rate: rate, clock: clock)
    let report = try sender.run()
    #expect(report.sent == count)
    var cumulative = 0
    for flush in transmitter.flushes {
      cumulative += flush.count
      let allowed = 1 + Int(clamping: (Int128(flush.time.nanoseconds) * Int128(rate)) / 1_000_000_000)
      #expect(cumulative <= allowed)
    }
    // 2 s of schedule; late wake-ups (370 µs each) cost at most a wake-up and a batch's sending.
    #expect(report.elapsed >= .milliseconds(1999))
    #expect(report.elapsed <= .seconds(2) + .microseconds(370) + .nanoseconds(700 * sender.batchSize))
  }

  @Test("A sender slower than the rate sends everything as fast as it can")
  func slowTransmitter() throws {
    let clock = FakePacingClock()
    let transmitter = RecordingTransmitter(clock: clock)
    transmitter.costPerPacket = .microseconds(10)  // 100k/s at most
    let sender = RateSender(
      burst: try Burst(synTemplate(), walks: []), transmitter: transmitter, count: 5000,
      rate: 1_000_000, clock: clock)
    let report = try sender.run()
    #expect(report.sent == 5000)
    // The first batch waits for its credit (999 packets at 1 µs), then 5 × 10 ms of sending.
    #expect(report.elapsed == .microseconds(50_999))
  }

  @Test("Unpaced: full batches, no sleeping, exact count")
  func unpaced() throws {
    let clock = FakePacingClock()
    let transmitter = RecordingTransmitter(clock: clock, batchCapacity: 300)
    let sender = RateSender(
      burst: try Burst(synTemplate(), walks: [.sequenceNumber(start: 5)]), transmitter: transmitter,
      count: 1000, clock: clock)
    let report = try sender.run()
    #expect(report.sent == 1000)
    #expect(transmitter.flushes.map(\.count) == [300, 300, 300, 100])
    #expect(clock.sleeps.isEmpty)
    #expect(report.targetRate == nil)
  }

  @Test("The duration bound stops an endless count; a stop request stops at once")
  func bounds() throws {
    let clock = FakePacingClock()
    let transmitter = RecordingTransmitter(clock: clock)
    let sender = RateSender(
      burst: try Burst(synTemplate(), walks: []), transmitter: transmitter, count: .max, rate: 1000,
      maximumDuration: .seconds(2), clock: clock)
    let report = try sender.run()
    #expect(report.stop == .duration)
    #expect(report.sent >= 1999 && report.sent <= 2001)
    #expect(report.elapsed >= .seconds(2))

    let clock2 = FakePacingClock()
    let transmitter2 = RecordingTransmitter(clock: clock2, batchCapacity: 10)
    transmitter2.costPerPacket = .microseconds(1)
    let sender2 = RateSender(burst: try Burst(synTemplate(), walks: []), transmitter: transmitter2, count: .max, clock: clock2)
    sender2.progressInterval = .microseconds(100)
    var progressCalls = 0
    sender2.onProgress = { report in
      progressCalls += 1
      if report.sent >= 500 { sender2.requestStop() }
    }
    let report2 = try sender2.run()
    #expect(report2.stop == .interrupted)
    // 10 µs a batch of 10: progress at 100, 200, ... µs; the stop lands after the 51st batch.
    #expect(report2.sent == 510)
    #expect(progressCalls == 5, "throttled to one call per interval")

    #expect(RateSender.defaultMaximumDuration == .seconds(60))
    let defaulted = RateSender(burst: try Burst(synTemplate(), walks: []), transmitter: transmitter, count: 1)
    #expect(defaulted.maximumDuration == .seconds(60))
  }

  @Test("Refused packets are counted as errors; the rest still go")
  func errorsCounted() throws {
    let clock = FakePacingClock()
    let transmitter = RecordingTransmitter(clock: clock, batchCapacity: 16)
    transmitter.refuse = [3, 17, 40]
    let sender = RateSender(burst: try Burst(synTemplate(), walks: []), transmitter: transmitter, count: 50, clock: clock)
    let report = try sender.run()
    #expect(report.sent == 47)
    #expect(report.errors == 3)
    #expect(report.description.hasPrefix("47 packets sent, 3 errors in "))
  }

  @Test("Field walks give the packet a fresh encode would give, checksums right, wrap included")
  func walksMatchFreshEncodes() throws {
    let flagsCycle: [TCPFlags] = [.syn, [.syn, .ack], [.fin, .ack], [], .rst]
    var burst = try Burst(
      synTemplate(),
      walks: [
        .sequenceNumber(start: 0xFFFF_FFF0, step: 3), .sourcePort(40_000...40_002),
        .destinationPort(9...9), .flags(flagsCycle), .identification(start: 0xFFFE),
        .acknowledgmentNumber(start: 7, step: 1000), .window(1...3),
      ])
    for index in [0, 1, 2, 3, 4, 5, 6, 7, 100, 65_535, 65_536, 1_000_001] {
      let fresh = try (IPv4Header(
        sourceAddress: loopback, destinationAddress: loopback,
        identification: UInt16(truncatingIfNeeded: 0xFFFE + index), flags: .dontFragment)
        / TCPHeader(
          sourcePort: 40_000 + UInt16(index % 3), destinationPort: 9,
          sequenceNumber: 0xFFFF_FFF0 &+ UInt32(truncatingIfNeeded: index * 3),
          acknowledgmentNumber: 7 &+ UInt32(truncatingIfNeeded: index * 1000),
          flags: flagsCycle[index % flagsCycle.count], window: 1 + UInt16(index % 3))).encoded()
      let walked = try burst.packet(at: index)
      #expect(walked == fresh, "packet \(index)")
      #expect(checksumsVerify(walked), "packet \(index): RFC 1071 over header and pseudo-header")
    }
    // Walks depend on the index only: going back gives the same bytes.
    let again = try burst.packet(at: 3)
    let once = try burst.packet(at: 3)
    #expect(again == once)
  }

  @Test("A custom walk and a generator burst")
  func customAndGenerator() throws {
    var custom = try Burst(synTemplate(), walks: [.custom({ index, template in template.urgentPointer = UInt16(index) })])
    let packet = try custom.packet(at: 77)
    #expect(packet[38] == 0 && packet[39] == 77)
    #expect(checksumsVerify(packet))

    var generated = Burst { (index: Int) throws(PacketError) -> Packet in
      IPv4Header(sourceAddress: loopback, destinationAddress: loopback, identification: 9)
        / TCPHeader(sourcePort: 1, destinationPort: 2, flags: .syn) / Array(repeating: UInt8(index & 0xFF), count: index % 4)
    }
    for index in 0..<6 {
      let bytes = try generated.packet(at: index)
      #expect(bytes.count == 40 + index % 4)
      #expect(checksumsVerify(bytes))
    }
    #expect(generated.maximumLength == 1514)
  }

  @Test("A cycling burst: each packet encoded once, index i is packet i mod n")
  func cyclingBurst() throws {
    let packets = (0..<5).map { index in
      IPv4Header(sourceAddress: loopback, destinationAddress: loopback, identification: UInt16(index + 1))
        / TCPHeader(sourcePort: 1000, destinationPort: 2000, sequenceNumber: UInt32(index), flags: .syn)
        / Array(repeating: UInt8(0xEE), count: index)
    }
    var burst = try Burst(cycling: packets)
    #expect(burst.maximumLength == 44)
    for index in [0, 1, 4, 5, 12, -1, Int.max] {
      let slot = Int(UInt(bitPattern: index) % 5)
      #expect(try burst.packet(at: index) == (try packets[slot].encoded()), "index \(index)")
    }
    #expect(throws: PacketError.self) { try Burst(cycling: []) }
    let clock = FakePacingClock()
    let transmitter = RecordingTransmitter(clock: clock)
    let report = try RateSender(burst: burst, transmitter: transmitter, count: 12, clock: clock).run()
    #expect(report.sent == 12)
    #expect(transmitter.packets.map(\.count) == [40, 41, 42, 43, 44, 40, 41, 42, 43, 44, 40, 41])
  }

  @Test("Report text and tcpdump's closing lines")
  func texts() {
    let report = RateReport(sent: 1000, errors: 1, elapsed: .milliseconds(500), stop: .count, targetRate: 2000)
    #expect(report.rate == 2000)
    #expect(report.description == "1000 packets sent, 1 error in 0.500 s (2000 packets/s, target 2000)")
    let capture = RingCaptureReport(captured: 1, receivedByFilter: 3, droppedByKernel: 0, elapsed: .zero, stop: .count)
    #expect(capture.tcpdumpLines == ["1 packet captured", "3 packets received by filter", "0 packets dropped by kernel"])
  }
}
