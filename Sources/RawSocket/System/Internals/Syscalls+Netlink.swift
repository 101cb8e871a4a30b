// System calls used by the netlink side of RawSocket (NetlinkSocket, RouteLookup, InetDiag,
// RSTGuard). Kept apart from Syscalls.swift so that both halves of RawSocket can grow without
// editing the same file; the names carry a `netlink` prefix for the same reason. Under
// ENABLE_MOCKING they go through the same seam as the others (Mocking.swift), with the names
// "netlinkBind", "netlinkGetsockname", "netlinkSendto", "netlinkRecv", "netlinkPoll".
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

internal func system_netlinkBind(_ fd: CInt, _ address: UnsafePointer<sockaddr_nl>) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("netlinkBind", Int(fd)) { return forced }
  #endif
  return address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
  }
}

internal func system_netlinkGetsockname(
  _ fd: CInt, _ address: UnsafeMutablePointer<sockaddr_nl>
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("netlinkGetsockname", Int(fd)) { return forced }
  #endif
  var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
  return address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
    getsockname(fd, $0, &length)
  }
}

internal func system_netlinkSendto(
  _ fd: CInt, _ bytes: UnsafeRawBufferPointer, _ flags: CInt,
  _ address: UnsafePointer<sockaddr_nl>
) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("netlinkSendto", Int(fd), bytes.count, Int(flags)) { return Int(forced) }
  #endif
  return address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
    sendto(fd, bytes.baseAddress, bytes.count, flags, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
  }
}

internal func system_netlinkRecv(
  _ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, _ flags: CInt
) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("netlinkRecv", Int(fd), buffer.count, Int(flags)) { return Int(forced) }
  #endif
  return recv(fd, buffer.baseAddress, buffer.count, flags)
}

internal func system_netlinkPoll(_ fd: CInt, _ events: Int16, _ timeoutMilliseconds: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("netlinkPoll", Int(fd), Int(events)) { return forced }
  #endif
  var entry = pollfd(fd: fd, events: events, revents: 0)
  return poll(&entry, 1, timeoutMilliseconds)
}

internal func system_netlinkGetpid() -> CInt { getpid() }

internal func system_netlinkMonotonicNanoseconds() -> UInt64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000
    &+ UInt64(truncatingIfNeeded: now.tv_nsec)
}

