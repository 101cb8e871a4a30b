// The drop tracer's tracefs instance: made, used and removed (host root), and its error paths
// through the mocking seam (no privilege).
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite("tracefs drop trace")
struct TraceFSTests {
  @Test("Without the right to mount tracefs: a clear error naming CAP_SYS_ADMIN", .enabled(if: MockingDriver.isAvailable, "debug builds only"))
  func mountRefused() {
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "fsmount")
      do throws(TraceFSError) {
        let trace = try DropTrace.start(suffix: "-mock")
        trace.close()
        Issue.record("started although the mount was refused")
      } catch {
        #expect(error.step == "mounting tracefs")
        #expect(error.description.contains("CAP_SYS_ADMIN"))
      }
      #expect(driver.calls == ["fsmount"])
    }
  }

  @Test("A refused instance directory closes the mount again", .enabled(if: MockingDriver.isAvailable && Privileges.hostRoot, "debug builds, host root"))
  func instanceRefused() {
    MockingDriver.withMocking { driver in
      driver.force(.permissionDenied, on: "mkdirat")
      #expect(throws: TraceFSError.self) { try DropTrace.start(suffix: "-mock2") }
      #expect(Array(driver.calls.suffix(3)) == ["mkdirat", "close", "close"], "\(driver.calls)")
    }
  }

  @Test(
    "An instance of our own: made with the event enabled, its trace readable, removed by close()",
    .enabled(if: Privileges.shouldRunAsHostRoot, "\(Privileges.hostRootReason)"))
  func instanceLifecycle() throws {
    try Privileges.checkHostRoot()
    let trace = try DropTrace.start(suffix: "-test")
    #expect(trace.instanceName.hasPrefix("tcpcraft-\(getpid())-") && trace.instanceName.hasSuffix("-test"))
    // A second tracer at once gets an instance of its own.
    let other = try DropTrace.start(suffix: "-test")
    #expect(other.instanceName != trace.instanceName && DropTrace.instanceExists(other.instanceName))
    other.close()
    #expect(DropTrace.instanceExists(trace.instanceName), "closing one leaves the other")
    #expect(DropTrace.instanceExists(trace.instanceName))
    let text = try trace.text()
    #expect(text.hasPrefix("# tracer: nop"), "\(text.prefix(80))")
    #expect(DropTrace.now() > 0 && DropTrace.currentThreadID() > 0)
    trace.close()
    trace.close()
    #expect(!DropTrace.instanceExists(trace.instanceName))
    #expect(throws: Errno.self) { try trace.text() }
  }
}
