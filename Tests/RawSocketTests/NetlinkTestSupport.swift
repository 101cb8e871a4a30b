// Helpers for the netlink tests: kernel TCP sockets through Glibc, a minimal raw IPv4/TCP sender
// and an AF_PACKET capture on lo, written here on purpose (independent of RawSocket's own raw
// socket code, which lives on another branch), and a way to run command-line tools.
import Foundation
import Glibc
import TestSupport

struct TestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

let loopback: UInt32 = KernelSockets.loopback

func lastErrno() -> CInt { Glibc.errno }

func socketAddress(_ address: UInt32, _ port: UInt16) -> sockaddr_in { KernelSockets.socketAddress(address, port) }

func withSockaddr<R>(_ address: inout sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
  KernelSockets.withSockaddr(address, body)
}

/// A kernel TCP listener on 127.0.0.1, ephemeral port.
func makeListener() throws -> (fd: CInt, port: UInt16) {
  try KernelSockets.listener(flags: CInt(SOCK_CLOEXEC.rawValue))
}

/// A kernel TCP client connected to 127.0.0.1:`port`.
func connectClient(to port: UInt16) throws -> (fd: CInt, port: UInt16) {
  let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { throw TestFailure("socket: errno \(lastErrno())") }
  guard KernelSockets.connect(fd, port: port) == 0 else {
    close(fd)
    throw TestFailure("connect: errno \(lastErrno())")
  }
  return (fd, KernelSockets.localPort(of: fd))
}

/// A port on 127.0.0.1 that no socket holds right now (bound, read, released).
func unusedPort() throws -> UInt16 { try KernelSockets.unusedPort() }

/// Waits at most `milliseconds` for `fd` to become readable.
func waitReadable(_ fd: CInt, milliseconds: CInt) -> Bool { KernelSockets.wait(fd, milliseconds: milliseconds) }

/// accept() with a bounded wait; `nil` when no connection arrives in time.
func acceptConnection(_ listener: CInt, milliseconds: CInt) -> CInt? {
  KernelSockets.accept(listener, milliseconds: milliseconds)
}

/// recv() with a bounded wait: the bytes, or the errno.
func receive(_ fd: CInt, milliseconds: CInt) -> Result<[UInt8], TestFailure> {
  guard waitReadable(fd, milliseconds: milliseconds) else { return .failure(TestFailure("nothing to read")) }
  var buffer = [UInt8](repeating: 0, count: 4096)
  let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, CInt(MSG_DONTWAIT)) }
  if count < 0 { return .failure(TestFailure("errno \(lastErrno())")) }
  return .success(Array(buffer[0..<count]))
}

/// Repeats `body` every 10 ms until it returns true, at most `milliseconds`.
func eventually(milliseconds: Int = 2000, _ body: () throws -> Bool) rethrows -> Bool {
  for _ in 0..<(milliseconds / 10) {
    if try body() { return true }
    usleep(10_000)
  }
  return try body()
}

// MARK: - Raw IPv4/TCP (test-local: the checksum here is the plain RFC 1071 loop)

struct TCPFlagBits {
  static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10
}

/// An IPv4 packet with a TCP segment (no options); the kernel fills IPv4 ID and checksum.
func tcpPacket(
  source: UInt32 = loopback, destination: UInt32 = loopback, sourcePort: UInt16,
  destinationPort: UInt16, sequence: UInt32, acknowledgment: UInt32, flags: UInt8,
  window: UInt16 = 65535, payload: [UInt8] = []
) -> [UInt8] {
  let tcp = HandBuilt.tcp(
    source: source, destination: destination, sourcePort: sourcePort, destinationPort: destinationPort,
    sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: window, payload: payload)
  return HandBuilt.ipv4(
    source: source, destination: destination, protocol: 6, identification: 0, payload: tcp, checksum: false)
}

/// An `AF_INET/SOCK_RAW/IPPROTO_RAW` socket (IP_HDRINCL implied).
final class TestRawSender {
  let fd: CInt
  init() throws {
    fd = socket(AF_INET, CInt(SOCK_RAW.rawValue) | CInt(SOCK_CLOEXEC.rawValue), CInt(IPPROTO_RAW))
    guard fd >= 0 else { throw TestFailure("raw socket: errno \(lastErrno())") }
  }
  deinit { close(fd) }

  /// Sends; returns 0 or the errno.
  func send(_ packet: [UInt8], to destination: UInt32 = loopback) -> CInt {
    var address = socketAddress(destination, 0)
    let sent = packet.withUnsafeBytes { bytes in
      withSockaddr(&address) { sendto(fd, bytes.baseAddress, bytes.count, 0, $0, $1) }
    }
    return sent == packet.count ? 0 : lastErrno()
  }
}

/// A TCP segment seen by the capture.
struct CapturedSegment: CustomStringConvertible {
  var source: UInt32, destination: UInt32
  var sourcePort: UInt16, destinationPort: UInt16
  var sequence: UInt32, acknowledgment: UInt32
  var flags: UInt8
  var payload: [UInt8]

  func has(_ bits: UInt8) -> Bool { flags & bits == bits }

  var description: String {
    "\(sourcePort) > \(destinationPort) flags 0x\(String(flags, radix: 16)) seq \(sequence) ack \(acknowledgment) len \(payload.count)"
  }
}

/// AF_PACKET capture on lo, one copy per packet (PACKET_IGNORE_OUTGOING), TCP between two ports.
final class LoopbackCapture {
  let fd: CInt
  let ports: Set<UInt16>
  private(set) var seen: [CapturedSegment] = []

  init(ports: Set<UInt16>) throws {
    self.ports = ports
    let protocolAll = UInt16(3 /* ETH_P_ALL */).bigEndian
    fd = socket(AF_PACKET, CInt(SOCK_RAW.rawValue) | CInt(SOCK_CLOEXEC.rawValue), CInt(protocolAll))
    guard fd >= 0 else { throw TestFailure("AF_PACKET socket: errno \(lastErrno())") }
    // struct sockaddr_ll (20 bytes): family, protocol (big-endian), ifindex, hatype, pkttype,
    // halen, addr[8]. Written by hand: Glibc does not import <linux/if_packet.h>.
    var link = [UInt8](repeating: 0, count: 20)
    withUnsafeBytes(of: UInt16(AF_PACKET)) { link.replaceSubrange(0..<2, with: $0) }
    withUnsafeBytes(of: protocolAll) { link.replaceSubrange(2..<4, with: $0) }
    withUnsafeBytes(of: Int32(if_nametoindex("lo"))) { link.replaceSubrange(4..<8, with: $0) }
    let bound = link.withUnsafeBytes {
      bind(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
    }
    var one: CInt = 1
    let ignored = setsockopt(fd, 263 /* SOL_PACKET */, 23 /* PACKET_IGNORE_OUTGOING */, &one, socklen_t(MemoryLayout<CInt>.size))
    guard bound == 0, ignored == 0 else {
      close(fd)
      throw TestFailure("AF_PACKET bind/setsockopt: errno \(lastErrno())")
    }
  }
  deinit { close(fd) }

  /// The next captured segment of our ports matching `predicate`, waiting at most `milliseconds`.
  func next(milliseconds: Int = 2000, where predicate: (CapturedSegment) -> Bool) -> CapturedSegment? {
    var buffer = [UInt8](repeating: 0, count: 70000)
    for _ in 0..<10_000 {
      guard waitReadable(fd, milliseconds: CInt(milliseconds)) else { return nil }
      let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, CInt(MSG_DONTWAIT)) }
      guard count >= 14 + 40, buffer[12] == 0x08, buffer[13] == 0x00, buffer[14] >> 4 == 4, buffer[23] == 6 else {
        continue
      }
      let ip = 14
      let ihl = Int(buffer[ip] & 0x0F) * 4
      let total = Int(buffer[ip + 2]) << 8 | Int(buffer[ip + 3])
      let tcp = ip + ihl
      guard tcp + 20 <= count, ip + total <= count else { continue }
      func read32(_ at: Int) -> UInt32 {
        UInt32(buffer[at]) << 24 | UInt32(buffer[at + 1]) << 16 | UInt32(buffer[at + 2]) << 8 | UInt32(buffer[at + 3])
      }
      let dataOffset = Int(buffer[tcp + 12] >> 4) * 4
      guard tcp + dataOffset <= ip + total else { continue }
      let segment = CapturedSegment(
        source: read32(ip + 12), destination: read32(ip + 16),
        sourcePort: UInt16(buffer[tcp]) << 8 | UInt16(buffer[tcp + 1]),
        destinationPort: UInt16(buffer[tcp + 2]) << 8 | UInt16(buffer[tcp + 3]),
        sequence: read32(tcp + 4), acknowledgment: read32(tcp + 8), flags: buffer[tcp + 13],
        payload: Array(buffer[(tcp + dataOffset)..<(ip + total)]))
      guard ports.contains(segment.sourcePort), ports.contains(segment.destinationPort) else { continue }
      seen.append(segment)
      if predicate(segment) { return segment }
    }
    return nil
  }
}

// MARK: - Tools

/// Runs a tool and returns its exit status and combined output.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
  try Subprocess.status([path] + arguments)
}

/// `nft list tables` output.
func nftTables() throws -> String {
  try runTool("/usr/sbin/nft", ["list", "tables"]).output
}
