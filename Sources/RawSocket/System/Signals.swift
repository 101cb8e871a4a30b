// Signal dispositions for the CLI (SIGPIPE ignored, Ctrl-C turned into a stop flag), through the
// syscall funnel like every other call (`system_signal`, `system_unblockSignals`).
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

/// What happens when a signal arrives: `signal(2)` and `pthread_sigmask(2)`, typed.
public enum SignalDisposition {
  /// A handler: a C function (no captures) that may only do async-signal-safe work, e.g. store
  /// to an atomic.
  public typealias Handler = @convention(c) (CInt) -> Void

  /// Ignores `signal` (e.g. `SIGPIPE`, so a closed pipe on stdout gives `EPIPE` instead of death).
  public static func ignore(_ signal: CInt) throws(SocketError) {
    try set(signal, SIG_IGN, operation: "signal(SIG_IGN)")
  }

  /// Restores the default action of `signal`.
  public static func restoreDefault(_ signal: CInt) throws(SocketError) {
    try set(signal, SIG_DFL, operation: "signal(SIG_DFL)")
  }

  /// Runs `handler` when `signal` arrives.
  public static func handle(_ signal: CInt, with handler: Handler) throws(SocketError) {
    try set(signal, handler, operation: "signal")
  }

  /// Unblocks `signals` on the calling thread (a parent may start us with them blocked).
  public static func unblock(_ signals: [CInt]) throws(SocketError) {
    let result = system_unblockSignals(signals)
    guard result == 0 else { throw .system(operation: "pthread_sigmask", Errno(rawValue: result)) }
  }

  private static func set(_ signal: CInt, _ handler: __sighandler_t?, operation: String) throws(SocketError) {
    guard system_signal(signal, handler) == 0 else {
      throw .system(operation: operation, Errno(rawValue: system_errno()))
    }
  }
}
