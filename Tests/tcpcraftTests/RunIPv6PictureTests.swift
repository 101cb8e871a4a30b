import Foundation
import Testing
import TestSupport

/// `tcpcraft run --svg` over IPv6 and IPv4-mapped sockets: the kernel's states beside the ladder
/// come from inet_diag asked for the socket's own family (AF_INET6 in both modes).
@Suite struct RunIPv6PictureTests {
  @Test(
    "run --svg --ip-version ipv6 / ipv4-mapped-ipv6 reads the kernel socket's states as in IPv4",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"),
    arguments: ["ipv6", "ipv4-mapped-ipv6"])
  func closePicture(mode: String) throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let folder = NSTemporaryDirectory() + "tcpcraft-runsvg6-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let result = try CommandRunner().run(
      ["run", RunCommandTests.examples + "/close.pkt", "--ip-version", mode, "--svg", folder + "/close.svg"], timeout: 60)
    #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
    let picture = try LabTests.SVG(path: folder + "/close.svg")
    #expect(picture.segments.map(\.flags) == ["SYN", "SYN,ACK", "ACK", "FIN,ACK", "ACK", "FIN,ACK", "ACK"], "\(picture.segments)")
    // The kernel's states, read with inet_diag after each segment: the same walk as over IPv4.
    #expect(picture.peerStates() == ["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"], "\(picture.states)")
    #expect(picture.states.filter { $0.side == "peer" }.map(\.row) == [-1, 0, 2, 3, 4, 5])
  }
}
