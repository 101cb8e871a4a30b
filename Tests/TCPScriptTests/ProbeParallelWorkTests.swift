// The probe's worker threads: results in the list's order whatever the threads managed, and the
// threads made through RawSocket's syscall seam, so a refused pthread_create is seen there.
@testable import RawSocket
@testable import TCPScript
import Testing

@Suite("Probe parallel work: order kept, threads through the syscall seam")
struct ProbeParallelWorkTests {
  let items = Array(0..<40)

  @Test("Every item is worked once and results keep the list's order")
  func orderKept() {
    let results = ParallelWork.map(items, width: 4) { $0 * 3 + 1 }
    #expect(results == items.map { $0 * 3 + 1 })
  }

  @Test(
    "Threads that cannot start leave their share to the others, or to the calling thread",
    .enabled(if: MockingDriver.isAvailable, "debug builds only"),
    arguments: [2, 4])
  func refusedThreads(refused: Int) {
    MockingDriver.withMocking { driver in
      driver.force(.resourceTemporarilyUnavailable, on: "pthread_create", times: refused)
      let results = ParallelWork.map(items, width: 4) { $0 * 3 + 1 }
      #expect(results == items.map { $0 * 3 + 1 })
      #expect(driver.calls.filter { $0 == "pthread_create" }.count == 4)
      #expect(driver.calls.filter { $0 == "pthread_join" }.count == 4 - refused)
    }
  }
}
