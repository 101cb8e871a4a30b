import Glibc
import RawSocket

/// When the kernel sent each outbound packet, from a packet socket on the tun device.
///
/// The tun device gives the kernel's packets without a time: stamping them when the runner reads
/// them counts the runner's own wake-up delay as the kernel's. Like packetdrill (which sniffs its
/// tun device with a packet socket and takes `SIOCGSTAMP`), the runner opens a packet socket on
/// `tun0` with `SO_TIMESTAMPNS`: the kernel stamps its copy as the segment leaves for the device
/// (`dev_queue_xmit_nit`, before the tun's queue), and each packet read from the tun takes the
/// time of its copy (kernel fact 31).
struct OutboundTimestamps {
  /// Copies seen by the packet socket and not yet paired with a tun read: the bytes and how long
  /// ago (microseconds, when drained) the kernel stamped them, as a script time.
  private var copies: [(bytes: [UInt8], time: Int64)] = []
  private let socket: PacketSocket?
  private var frame = CapturedFrame(bytes: [])
  /// Packets that got their kernel time, and those that kept their read time.
  private(set) var stamped = 0
  private(set) var unstamped = 0

  /// Opens the packet socket on `interface` (outgoing copies only: nothing else is sent to the
  /// tun's address from inside). `nil` socket (no CAP_NET_RAW...): every packet keeps its read time.
  init(interface: String) {
    socket = try? PacketSocket(
      interface: interface, ignoreOutgoing: false, snapshotLength: 65_536, receiveBufferSize: 4 << 20)
  }

  /// Without a socket, with copies already seen (script time each, `Int64.min`: no stamp).
  init(copies: [(bytes: [UInt8], time: Int64)]) {
    socket = nil
    self.copies = copies
  }

  /// Drains the socket's queue; `now` is the script time of the drain.
  mutating func drain(now: Int64) {
    guard let socket else { return }
    var bound = 0
    while bound < 4096, (try? socket.receive(into: &frame, timeout: .zero)) == true {
      bound += 1
      guard frame.packetType == .outgoing else { continue }
      let stamp = frame.timestamp.seconds * 1_000_000 + Int64(frame.timestamp.nanoseconds / 1000)
      let age = ScriptSockets.realtimeMicroseconds() - stamp
      // A clock step or a missing stamp: no time rather than a wrong one.
      let time = stamp > 0 && age >= 0 && age < 10_000_000 ? now - age : Int64.min
      copies.append((frame.bytes, time))
    }
    // A copy never read from the tun (the tun queue dropped it): forget the oldest.
    if copies.count > 1024 { copies.removeFirst(copies.count - 1024) }
  }

  /// The kernel's time for `packet` read from the tun, or `readTime` when no copy matches.
  /// Copies come in the tun's order; older copies without a match are dropped.
  mutating func time(of packet: [UInt8], readTime: Int64) -> Int64 {
    if let index = copies.firstIndex(where: { Self.sameSegment($0.bytes, packet) }) {
      let time = copies[index].time
      copies.removeFirst(index + 1)
      if time != Int64.min, time <= readTime {
        stamped += 1
        return time
      }
    }
    unstamped += 1
    return readTime
  }

  /// The same IP packet, checksums aside: the packet socket's copy may carry a partial transport
  /// checksum (offloads) where the tun read has it finished, or the other way round.
  static func sameSegment(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count, let first = a.first else { return false }
    // The first byte of each 2-byte checksum to skip (-2: none); no array, this runs per packet.
    var ipChecksum = -2
    var transport = 0
    var proto: UInt8 = 0
    if first >> 4 == 4, a.count >= 20 {
      ipChecksum = 10
      transport = Int(first & 0x0F) * 4
      proto = a[9]
    } else if first >> 4 == 6, a.count >= 40 {
      transport = 40
      proto = a[6]
    } else {
      return a == b
    }
    var transportChecksum = -2
    switch proto {
    case 6: transportChecksum = transport + 16
    case 17: transportChecksum = transport + 6
    case 1, 58: transportChecksum = transport + 2
    default: break
    }
    for index in 0..<a.count where a[index] != b[index] {
      let skipped = index == ipChecksum || index == ipChecksum + 1 || index == transportChecksum || index == transportChecksum + 1
      if !skipped { return false }
    }
    return true
  }
}

extension ScriptSession {
  /// `TCPCRAFT_TRACE_TIMING=1`: one stderr line per outbound packet (read time, kernel time) and
  /// per call (`CallWorker`). Read from the environment once, not at every packet.
  static let tracesTiming = getenv("TCPCRAFT_TRACE_TIMING").map { String(cString: $0) } == "1"
  var traceTiming: Bool { Self.tracesTiming }
  func traceLine(_ text: String) { _ = ScriptSockets.write(2, bytes: Array((text + "\n").utf8)) }
}
