import Glibc
import PacketKit
import RawSocket
import Synchronization

/// How a ring capture went: tcpdump's three closing numbers.
public struct RingCaptureReport: Hashable, Sendable {
  /// Why the capture ended.
  public enum Stop: String, Hashable, Sendable {
    case count, duration, interrupted
  }

  /// Frames handed to the caller.
  public var captured: Int
  /// Frames that passed the kernel filter, dropped ones included (`tp_packets`).
  public var receivedByFilter: UInt64
  /// Frames the kernel dropped because the ring was full (`tp_drops`).
  public var droppedByKernel: UInt64
  /// How long the capture ran.
  public var elapsed: Duration
  public var stop: Stop

  public init(captured: Int, receivedByFilter: UInt64, droppedByKernel: UInt64, elapsed: Duration, stop: Stop) {
    self.captured = captured
    self.receivedByFilter = receivedByFilter
    self.droppedByKernel = droppedByKernel
    self.elapsed = elapsed
    self.stop = stop
  }

  /// The lines tcpdump prints when it stops:
  /// `N packets captured`, `N packets received by filter`, `N packets dropped by kernel`.
  public var tcpdumpLines: [String] {
    func packets(_ count: UInt64) -> String { count == 1 ? "1 packet" : "\(count) packets" }
    return [
      "\(packets(UInt64(captured))) captured",
      "\(packets(receivedByFilter)) received by filter",
      "\(packets(droppedByKernel)) dropped by kernel",
    ]
  }
}

/// Capture at rate through a `TPACKET_V3` ring (`PacketRXRing`): frames are read in place, in
/// blocks, with no system call per frame, and the kernel's drop counter is reported at the end.
/// For `sniff`, for recording a flow's traffic under load, and for checking that a burst
/// arrived.
///
/// ```swift
/// let capture = try RingCapture(interface: "lo", filter: try CaptureFilter(parsing: "tcp port 8080"))
/// let pcap = try PcapFileSink(path: "out.pcap")
/// let report = try capture.run(count: 1000, duration: .seconds(10)) { frame in pcap.write(frame) }
/// try pcap.close()
/// print(report.tcpdumpLines.joined(separator: "\n"))
/// ```
public final class RingCapture {
  public let ring: PacketRXRing
  private let stopFlag = Atomic<Bool>(false)

  /// Opens a ring on `interface` with a kernel filter already attached.
  ///
  /// - Parameters:
  ///   - interface: where to capture (`lo`, a veth, ...).
  ///   - filter: a BPF program (`nil`: everything).
  ///   - ignoreOutgoing: as `PacketRXRing` (`nil`: yes on `lo`, no elsewhere).
  ///   - geometry: the ring (default 32 MiB).
  ///   - blockTimeout: the longest a frame waits in a partly filled block (default 10 ms).
  /// - Throws: `SocketError` (missing capability, no such interface, ...).
  public init(
    interface: String, filter: BPFProgram? = nil, ignoreOutgoing: Bool? = nil,
    geometry: PacketRingGeometry = .receive(), blockTimeout: Duration = .milliseconds(10)
  ) throws(SocketError) {
    ring = try PacketRXRing(
      interface: interface, ignoreOutgoing: ignoreOutgoing, filter: filter, geometry: geometry,
      blockTimeout: blockTimeout)
  }

  /// Opens a ring with `filter` compiled for Ethernet framing (as `lo` and veths have).
  /// - Throws: `ScriptError.packet` for a filter that does not compile, `.privileges`, `.system`.
  public convenience init(
    interface: String, filter: CaptureFilter, ignoreOutgoing: Bool? = nil,
    geometry: PacketRingGeometry = .receive()
  ) throws(ScriptError) {
    let program: BPFProgram
    do throws(CaptureFilterError) {
      program = try filter.compile(for: .ethernet)
    } catch {
      throw .packet(step: "compiling the capture filter", description: error.description)
    }
    do throws(SocketError) {
      try self.init(interface: interface, filter: program, ignoreOutgoing: ignoreOutgoing, geometry: geometry)
    } catch {
      throw KernelTransport.scriptError(error, step: "opening a capture ring on \(interface)")
    }
  }

  /// A ring for one flow's segments, both directions, for recording a flow under load:
  /// `tcp and host LOCAL and host REMOTE and port LPORT and port RPORT` (a port or address of 0
  /// is left out of the filter).
  /// - Throws: as `init(interface:filter:...)`.
  public convenience init(
    flowBetween local: Endpoint, and remote: Endpoint, interface: String,
    geometry: PacketRingGeometry = .receive()
  ) throws(ScriptError) {
    try self.init(interface: interface, filter: .flow(between: local, and: remote), geometry: geometry)
  }

  /// Closes the ring.
  public func close() { ring.close() }

  /// Asks a running `run` to stop (from another thread, or after a signal handler set a flag
  /// that `shouldStop` reads).
  public func requestStop() { stopFlag.store(true, ordering: .relaxed) }

  /// Captures until `count` frames were handed over, `duration` passed (`nil`: no limit), a stop
  /// was requested, or `shouldStop` says so (checked at least every 100 ms).
  ///
  /// - Parameter body: called once per frame, in order; `frame.bytes` is valid only during the
  ///   call.
  /// - Returns: the counts, with the kernel's statistics read at the end.
  /// - Throws: `SocketError` from the ring.
  public func run(
    count: Int = .max, duration: Duration? = nil, shouldStop: () -> Bool = { false },
    _ body: (RingFrame) -> Void
  ) throws(SocketError) -> RingCaptureReport {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = duration.map { start.advanced(by: $0) }
    var captured = 0
    var stop = RingCaptureReport.Stop.count
    while captured < count {
      if stopFlag.load(ordering: .relaxed) || shouldStop() { stop = .interrupted; break }
      var wait: Duration = .milliseconds(100)
      if let deadline {
        let left = clock.now.duration(to: deadline)
        if left <= .zero { stop = .duration; break }
        wait = min(wait, left)
      }
      captured += try ring.receive(timeout: wait, limit: count - captured, body)
    }
    let statistics = try ring.statistics()
    return RingCaptureReport(
      captured: captured, receivedByFilter: statistics.packets, droppedByKernel: statistics.drops,
      elapsed: start.duration(to: clock.now), stop: stop)
  }

  /// Copies frames into memory until `enough` says so (then waits `settle` longer, so that
  /// stragglers and duplicates would show), or `limit` passes. For tests and short flows.
  public func collect(
    limit: Duration = .seconds(3), settle: Duration = .milliseconds(300), maximum: Int = 1_000_000,
    enough: ([CapturedFrame]) -> Bool
  ) throws(SocketError) -> [CapturedFrame] {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: limit)
    var frames: [CapturedFrame] = []
    var settleEnd: ContinuousClock.Instant?
    while frames.count < maximum {
      let now = clock.now
      let stop = min(end, settleEnd ?? end)
      if now >= stop { break }
      try ring.receive(timeout: min(stop - now, .milliseconds(50)), limit: maximum - frames.count) {
        frames.append($0.captured())
      }
      if settleEnd == nil, enough(frames) { settleEnd = clock.now.advanced(by: settle) }
    }
    return frames
  }
}

/// Writes to a file descriptor through a large buffer: few `write(2)` calls at high rates. The
/// file is created and written through RawSocket's `FileDescriptor` (its `system_*` seam).
public final class BufferedFileWriter {
  /// The descriptor written to.
  public let descriptor: FileDescriptor
  /// A name for error messages.
  public let name: String
  private let ownsDescriptor: Bool
  private var buffer: [UInt8] = []
  private let threshold: Int
  private var isClosed = false

  /// Creates the file at `path` (mode 0644), or truncates it if it is a regular file of ours
  /// (`SafeFile.openForWriting`: never through a symbolic link, never another user's file).
  /// - Throws: `ScriptError.system` naming the file and the reason.
  public init(path: String, bufferSize: Int = 1 << 20) throws(ScriptError) {
    do throws(FileSafetyError) {
      descriptor = FileDescriptor(rawValue: try SafeFile.openForWriting(path))
    } catch {
      throw .system(step: "creating \(path)", description: error.isRefusal ? "refused: \(error.reason)" : error.reason)
    }
    name = path
    ownsDescriptor = true
    threshold = max(4096, bufferSize)
    buffer.reserveCapacity(threshold + 65_536)
  }

  /// Writes to an open descriptor (e.g. standard output), which stays open.
  public init(descriptor: FileDescriptor, name: String = "standard output", bufferSize: Int = 1 << 16) {
    self.descriptor = descriptor
    self.name = name
    ownsDescriptor = false
    threshold = max(1, bufferSize)
    buffer.reserveCapacity(threshold + 4096)
  }

  deinit {
    try? flush()
    if ownsDescriptor, !isClosed { try? descriptor.close() }
  }

  /// Appends through `body` (which appends to the buffer); writes out when the buffer is full.
  @inline(__always)
  public func append(_ body: (inout [UInt8]) -> Void) throws(ScriptError) {
    body(&buffer)
    if buffer.count >= threshold { try flush() }
  }

  /// Appends bytes.
  public func write(_ bytes: some Sequence<UInt8>) throws(ScriptError) {
    try append { $0.append(contentsOf: bytes) }
  }

  /// Appends a line of text and a newline.
  public func writeLine(_ text: String) throws(ScriptError) {
    try append {
      $0.append(contentsOf: text.utf8)
      $0.append(0x0A)
    }
  }

  /// Writes out everything buffered (short writes continued and `EINTR` retried by RawSocket).
  public func flush() throws(ScriptError) {
    guard !buffer.isEmpty, !isClosed else { return }
    let failure: Errno? = buffer.withUnsafeBytes { raw -> Errno? in
      do throws(Errno) {
        try descriptor.writeAll(raw)
        return nil
      } catch {
        return error
      }
    }
    buffer.removeAll(keepingCapacity: true)
    if let failure { throw .system(step: "writing \(name)", description: failure.description) }
  }

  /// Flushes and, for a file this writer opened, closes it.
  public func close() throws(ScriptError) {
    guard !isClosed else { return }
    try flush()
    isClosed = true
    guard ownsDescriptor else { return }
    do {
      try descriptor.close()
    } catch {
      throw .system(step: "closing \(name)", description: error.description)
    }
  }
}

/// A pcap file written from ring frames (PacketKit's `PcapWriter`, nanosecond timestamps)
/// through a `BufferedFileWriter`.
public final class PcapFileSink {
  public let writer: PcapWriter
  private let file: BufferedFileWriter
  /// Records written.
  public private(set) var count = 0

  /// Creates the file and writes the pcap header.
  /// - Parameters:
  ///   - linkType: `.ethernet` for `lo` and veths (default).
  ///   - snapLength: the header's snapshot length (default 262144, as tcpdump).
  /// - Throws: `ScriptError.system` when the file cannot be created.
  public init(path: String, linkType: LinkType = .ethernet, snapLength: UInt32 = 262_144) throws(ScriptError) {
    file = try BufferedFileWriter(path: path)
    writer = PcapWriter(linkType: linkType, precision: .nanoseconds, snapLength: snapLength)
    try file.append { writer.appendFileHeader(to: &$0) }
  }

  /// Appends one frame (its captured bytes, original length and kernel timestamp).
  public func write(_ frame: RingFrame) throws(ScriptError) {
    try file.append {
      writer.appendRecord(
        frame.bytes, timestampSeconds: UInt32(truncatingIfNeeded: frame.timestamp.seconds),
        timestampNanoseconds: frame.timestamp.nanoseconds,
        originalLength: UInt32(truncatingIfNeeded: frame.originalLength), to: &$0)
    }
    count += 1
  }

  /// Writes out what is buffered and closes the file.
  public func close() throws(ScriptError) { try file.close() }
}
