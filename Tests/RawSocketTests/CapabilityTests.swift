// The one-line capability message, and a real run without privileges (setpriv to nobody).
import Foundation
import Glibc
import Testing
import TestSupport
import RawSocket

@Suite("Missing capabilities")
struct CapabilityTests {
  @Test func messageNamesTheCapabilityAndTheFix() {
    let error = CapabilityError(missing: [.netRaw])
    #expect(
      error.description
        == "tcpcraft needs CAP_NET_RAW to open raw sockets: run it with sudo, or grant it once with "
        + "`sudo setcap cap_net_raw,cap_net_admin+ep <binary>`")
    let both = CapabilityError(missing: [.netRaw, .netAdmin], executablePath: "/usr/local/bin/tcpcraft")
    #expect(both.description.hasPrefix("tcpcraft needs CAP_NET_RAW and CAP_NET_ADMIN "))
    #expect(both.description.hasSuffix("`sudo setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/tcpcraft`"))
    #expect(SocketError.missingCapability(error).description == error.description)
  }

  @Test func effectiveSetAgreesWithProc() throws {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
    let hex = line.map { $0.dropFirst(7).trimmingCharacters(in: .whitespaces) }
    #expect(Capabilities.effective() == hex.flatMap { UInt64($0, radix: 16) })
    #expect(Capabilities.executablePath()?.hasSuffix(".xctest") == true)
  }

  /// Helper mode: does nothing unless the parent test below runs this binary as nobody with
  /// `TCPCRAFT_CAPABILITY_PROBE=1`; then it tries to open each socket and prints what it got.
  @Test func capabilityProbeHelper() {
    guard ProcessInfo.processInfo.environment["TCPCRAFT_CAPABILITY_PROBE"] == "1" else { return }
    var lines: [String] = ["uid=\(getuid())"]
    do {
      _ = try RawIPv4Socket()
      lines.append("raw: opened")
    } catch {
      lines.append("raw: \(error)")
    }
    do {
      _ = try PacketSocket(interface: "lo")
      lines.append("packet: opened")
    } catch {
      lines.append("packet: \(error)")
    }
    print(lines.map { "PROBE " + $0 }.joined(separator: "\n"))
  }

  @Test(
    "Without root, opening a socket fails with the capability message",
    .enabled(if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv"), "\(Privileges.hostRootReason), and setpriv"))
  func unprivilegedRunGetsTheMessage() throws {
    try Privileges.check(.netRaw, .netAdmin)
    try Privileges.checkHostRoot()
    guard let binary = Capabilities.executablePath() else {
      Issue.record("cannot find the test binary")
      return
    }
    var environment = ProcessInfo.processInfo.environment
    environment["TCPCRAFT_CAPABILITY_PROBE"] = "1"
    environment["TCPCRAFT_REQUIRE_PRIVILEGES"] = nil
    // The child must stay without capabilities: no private namespace for it (CTestNamespace).
    environment["TCPCRAFT_TEST_USERNS"] = "0"
    let (status, output) = try TestNet.run(
      [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary,
        "--testing-library", "swift-testing", "--filter", "capabilityProbeHelper",
      ], environment: environment, timeout: 60)
    #expect(status == 0, "\(output)")
    let probe = output.split(separator: "\n").filter { $0.hasPrefix("PROBE ") }
    #expect(probe.contains("PROBE uid=65534"), "\(output)")
    let expected =
      "tcpcraft needs CAP_NET_RAW to open raw sockets: run it with sudo, or grant it once with "
      + "`sudo setcap cap_net_raw,cap_net_admin+ep \(binary)`"
    #expect(probe.contains("PROBE raw: \(expected)"[...]), "\(output)")
    #expect(probe.contains("PROBE packet: \(expected)"[...]), "\(output)")
  }

  /// A normal user's test run needs no sudo: this test binary, copied where nobody can run it and
  /// run as nobody, enters its private user + network namespace before main (CTestNamespace), so a
  /// privileged test really runs there (TCPCRAFT_REQUIRE_PRIVILEGES=1 makes a skip a failure).
  @Test(
    "As a normal user, the test binary runs privileged tests in a private namespace",
    .enabled(if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv"), "\(Privileges.hostRootReason), and setpriv"))
  func normalUserRunsPrivilegedTestsWithoutSudo() throws {
    try Privileges.checkHostRoot()
    let binary = try #require(Capabilities.executablePath())
    let copy = try UnprivilegedCopy(of: binary)
    defer { copy.cleanUp() }
    var environment = ProcessInfo.processInfo.environment
    environment["TCPCRAFT_REQUIRE_PRIVILEGES"] = "1"
    environment["TCPCRAFT_TEST_USERNS"] = nil
    environment["HOME"] = copy.workFolder
    let (status, output) = try TestNet.run(
      copy.asUser([
        copy.binary, "--testing-library", "swift-testing", "--filter",
        "withGuardOurPlainSocketPassesByOwner|insideAUserNamespaceIsDetected",
      ]), environment: environment, timeout: 120)
    #expect(status == 0, "\(output)")
    #expect(output.contains("withGuardOurPlainSocketPassesByOwner() passed"), "\(output)")
    #expect(!output.contains("skipped"), "\(output)")
    #expect(output.contains("2 tests"), "\(output)")
  }
}
