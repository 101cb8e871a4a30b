// The system calls of TraceFS.swift, in the funnel's manner: each one can be traced and failed
// under ENABLE_MOCKING (see Mocking.swift).
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

/// A detached tracefs mount (`fsopen`, `fsconfig`, `fsmount`): a directory descriptor, or -1.
internal func system_tracefsMount() -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fsmount") { return forced }
  #endif
  return crawsocket_tracefs_mount()
}

internal func system_mkdirat(_ directory: CInt, _ path: UnsafePointer<CChar>, _ mode: mode_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("mkdirat", Int(directory), Int(mode)) { return forced }
  #endif
  return mkdirat(directory, path, mode)
}

/// The calling thread's id, as trace events record it (`common_pid`).
internal func system_gettid() -> CInt { crawsocket_gettid() }

/// The process id, as our instances' names carry it (`tcpcraft-PID-N`).
internal func system_getpid() -> pid_t { getpid() }
