// The only file in RawSocket that calls Glibc directly. Every wrapper goes through a
// `system_<name>` function here, so that a debug build (ENABLE_MOCKING) can trace calls and force
// errors without privileges (see Mocking.swift, when it exists).
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

internal func system_errno() -> CInt { crawsocket_errno() }

internal func system_strerror(_ code: CInt) -> String {
  guard let text = strerror(code) else { return "unknown error" }
  return String(cString: text)
}

internal func system_socket(_ domain: CInt, _ type: CInt, _ proto: CInt) -> CInt {
  socket(domain, type, proto)
}

internal func system_close(_ fd: CInt) -> CInt { close(fd) }

internal func system_setsockopt(
  _ fd: CInt, _ level: CInt, _ name: CInt, _ value: UnsafeRawPointer?, _ length: socklen_t
) -> CInt {
  setsockopt(fd, level, name, value, length)
}

internal func system_getsockopt(
  _ fd: CInt, _ level: CInt, _ name: CInt, _ value: UnsafeMutableRawPointer?,
  _ length: UnsafeMutablePointer<socklen_t>
) -> CInt {
  getsockopt(fd, level, name, value, length)
}
