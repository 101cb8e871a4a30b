import Foundation
import Testing
import TestSupport

/// `tcpcraft run --svg FILE --pcapng FILE`: one script's TCP segments drawn through the shared SVG
/// ladder and written as commented pcapng, from the script's side (the remote end tcpcraft plays).
@Suite struct RunPictureTests {
  @Test("--svg and --pcapng take one script: a folder or several scripts is one usage line, exit 2")
  func usage() throws {
    let runner = CommandRunner()
    let folder = try runner.run(["run", RunCommandTests.examples, "--svg", "/nonexistent/x.svg"])
    #expect(folder.status == 2 && folder.errorLines.count == 1 && folder.stderr.contains("one script"), "\(folder.stderr)")
    let two = try runner.run([
      "run", RunCommandTests.examples + "/close.pkt", RunCommandTests.examples + "/handshake.pkt", "--pcapng", "/nonexistent/x",
    ])
    #expect(two.status == 2 && two.errorLines.count == 1 && two.stderr.contains("several"), "\(two.stderr)")
    let help = try runner.run(["run", "--help"])
    #expect(help.stdout.contains("--svg close.svg --pcapng close.pcapng"))
  }

  @Test(
    "run --svg draws the 4-way close arrow for arrow, states where they began; --pcapng comments every packet",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func closePicture() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("runsvg") { folder in
      let result = try CommandRunner().run(
        ["run", RunCommandTests.examples + "/close.pkt", "--svg", folder + "/close.svg", "--pcapng", folder + "/close.pcapng"],
        timeout: 60)
      #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
      let picture = try LabTests.SVG(path: folder + "/close.svg")
      // The script's remote end (us) opens, the kernel closes first: SYN, SYN+ACK, ACK, FIN, ACK, FIN, ACK.
      #expect(picture.segments.map(\.flags) == ["SYN", "SYN,ACK", "ACK", "FIN,ACK", "ACK", "FIN,ACK", "ACK"], "\(picture.segments)")
      #expect(picture.segments.map(\.direction) == ["out", "in", "out", "in", "out", "out", "in"])
      // Arrow for arrow, each answer acknowledges what it answers: the SYN+ACK our SYN, our ACK its SYN.
      #expect(picture.segments[1].ack == picture.segments[0].seq &+ 1)
      #expect(picture.segments[2].ack == picture.segments[1].seq &+ 1)
      #expect(picture.segments[4].ack == picture.segments[3].seq &+ 1)
      #expect(picture.segments[6].ack == picture.segments[5].seq &+ 1)
      let ours = picture.states.filter { $0.side == "ours" }
      #expect(ours.map(\.text) == ["CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"], "\(ours)")
      #expect(ours.map(\.row) == [-1, 0, 1, 3, 5, 6])
      // The kernel's states, read with inet_diag after each segment, each on the row where it began.
      #expect(picture.peerStates() == ["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"], "\(picture.states)")
      #expect(picture.states.filter { $0.side == "peer" }.map(\.row) == [-1, 0, 2, 3, 4, 5])
      try LabTests.renders(folder + "/close.svg")
      if let comments = try LabTests.comments(folder + "/close.pcapng") {
        #expect(comments.count == 7, "\(comments)")
        #expect(comments.first?.hasPrefix("#1 sent by us: SYN | us: CLOSED → SYN-SENT") == true, "\(comments)")
        #expect(comments.last?.contains("LAST-ACK → CLOSED") == true, "\(comments)")
        #expect(comments[5].contains("peer: FIN-WAIT-2 → TIME-WAIT"), "\(comments)")
      }
    }
  }
}
