// System calls for the memory-mapped packet rings (PACKET_TX_RING, PACKET_RX_RING): mmap(2),
// munmap(2) and the page size. Same seam as Syscalls.swift: under ENABLE_MOCKING a driver can
// force an errno.
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

/// `mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)`: maps a packet ring.
/// Returns `nil` (errno set) on failure (`MAP_FAILED`).
internal func system_mmapShared(_ fd: CInt, _ length: Int) -> UnsafeMutableRawPointer? {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("mmap", Int(fd), length) {
    _ = forced
    return nil
  }
  #endif
  let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
  // MAP_FAILED is ((void *) -1), a macro Swift does not import.
  guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
  return address
}

internal func system_munmap(_ address: UnsafeMutableRawPointer, _ length: Int) -> CInt {
  munmap(address, length)
}

/// The size of a memory page (`sysconf(_SC_PAGESIZE)`), 4096 when unknown.
internal func system_pageSize() -> Int {
  let size = sysconf(CInt(_SC_PAGESIZE))
  return size > 0 ? size : 4096
}
