// The signal wrappers (`SignalDisposition`): real dispositions on this process, and in debug
// builds a failure forced through the seam.
import Glibc
import Synchronization
import Testing
@testable import RawSocket

private let usr2Count = Atomic<Int>(0)

@Suite("Signal dispositions", .serialized)
struct SignalDispositionTests {
  @Test func aHandlerRunsIgnoringWorksAndTheDefaultComesBack() throws {
    // The test harness's threads may hold SIGUSR2 blocked: unblock it here (through the wrapper,
    // which this checks too) and put the mask back afterwards.
    var old = sigset_t()
    #expect(pthread_sigmask(SIG_BLOCK, nil, &old) == 0)
    defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
    try SignalDisposition.unblock([SIGUSR2])
    var now = sigset_t()
    #expect(pthread_sigmask(SIG_BLOCK, nil, &now) == 0)
    #expect(sigismember(&now, SIGUSR2) == 0)

    usr2Count.store(0, ordering: .relaxed)
    try SignalDisposition.handle(SIGUSR2) { _ in usr2Count.add(1, ordering: .relaxed) }
    // raise(3) delivers an unblocked signal to this thread before it returns.
    #expect(raise(SIGUSR2) == 0)
    #expect(usr2Count.load(ordering: .relaxed) == 1)
    try SignalDisposition.ignore(SIGUSR2)
    #expect(raise(SIGUSR2) == 0)
    #expect(usr2Count.load(ordering: .relaxed) == 1)
    try SignalDisposition.restoreDefault(SIGUSR2)
    // What the kernel now holds for SIGUSR2: the default action (SIG_DFL is 0).
    var current = sigaction()
    #expect(sigaction(SIGUSR2, nil, &current) == 0)
    #expect(unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 0)
  }

  @Test func anInvalidSignalNamesTheCallAndEINVAL() {
    // signal(2) refuses SIGKILL.
    #expect(throws: SocketError.system(operation: "signal(SIG_IGN)", Errno(rawValue: EINVAL))) {
      try SignalDisposition.ignore(SIGKILL)
    }
  }

  @Test(.enabled(if: MockingDriver.isAvailable)) func aForcedFailureIsReported() {
    MockingDriver.withMocking { driver in
      driver.force(.init(rawValue: EINTR), on: "signal")
      #expect(throws: SocketError.system(operation: "signal", Errno(rawValue: EINTR))) {
        try SignalDisposition.handle(SIGUSR2) { _ in }
      }
      #expect(driver.calls == ["signal"])
    }
  }
}
