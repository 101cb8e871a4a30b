import Foundation
import TestSupport
import Testing

/// Issue 11, items 2 and 3: sessions belong to the invoking user, and their life cycle (holder,
/// interruption, held 4-tuples, concurrent and failed fins) — with the real binary, real
/// handshakes on loopback and real guard holders.
@Suite(.serialized) struct SafetySessionTests {
  static let nobody: uid_t = 65534
  static var isRoot: Bool { geteuid() == 0 }

  static func files(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
  }

  static func alive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    // A zombie (exited, not yet reaped by its new parent) counts as gone.
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? false)
  }

  /// A session file as handshake writes it (valid), for planting.
  static func sessionJSON(
    local: String = "127.0.0.1", localPort: UInt16, remotePort: UInt16, state: String = "ESTABLISHED",
    holderPID: Int32 = 0, token: String = String(repeating: "ab", count: 16)
  ) -> (name: String, data: Data) {
    let object: [String: Any] = [
      "localAddress": local, "localPort": Int(localPort), "remoteAddress": "127.0.0.1", "remotePort": Int(remotePort),
      "interface": "lo", "state": state, "initialSendSequence": 1000, "sendNext": 1001,
      "initialReceiveSequence": 5000, "receiveNext": 5001, "holderPID": Int(holderPID), "holdSeconds": 300,
      "createdAt": Date().timeIntervalSince1970, "updatedAt": Date().timeIntervalSince1970, "token": token,
    ]
    let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    return ("127.0.0.1_\(remotePort)_\(localPort).json", data)
  }

  /// Whose sessions the binary works with: under `sudo -E swift test` (as CI runs for a normal
  /// user) root acts for SUDO_UID; otherwise our own uid.
  static var sessionOwner: uid_t {
    if getuid() == 0, let text = ProcessInfo.processInfo.environment["SUDO_UID"], let uid = uid_t(text), uid != 0 {
      return uid
    }
    return getuid()
  }

  /// Makes the runner's session directory (0700, the session owner's) and plants `files` in it
  /// (the owner's too, unless `owner` says otherwise).
  static func plant(_ runner: CommandRunner, _ files: [(name: String, data: Data)], owner: uid_t? = nil) {
    mkdir(runner.sessionDirectory, 0o700)
    let sessionOwner = Self.sessionOwner
    if sessionOwner != geteuid() { chown(runner.sessionDirectory, sessionOwner, gid_t.max) }
    for file in files {
      let path = runner.sessionDirectory + "/" + file.name
      _ = FileManager.default.createFile(atPath: path, contents: file.data, attributes: [.posixPermissions: 0o600])
      let fileOwner = owner ?? sessionOwner
      if fileOwner != geteuid() { chown(path, fileOwner, gid_t.max) }
    }
  }

  // MARK: - The directory

  @Test(.enabled(if: SafetySessionTests.isRoot, "needs root to plant another user's directory"))
  func aSessionDirectoryOfAnotherUserIsRefused() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    mkdir(runner.sessionDirectory, 0o700)
    chown(runner.sessionDirectory, Self.nobody, gid_t(Self.nobody))
    for command in [["fin"], ["handshake", "127.0.0.1:9"]] {
      let result = try runner.run(command)
      #expect(result.status == 1, "\(command): \(result.stderr)")
      #expect(result.errorLines.count == 1)
      #expect(result.stderr.contains("refused") && result.stderr.contains("uid 65534"), "\(result.stderr)")
    }
    #expect(Self.files(runner.sessionDirectory).isEmpty)
  }

  @Test func aSessionDirectoryThatIsALinkOrOpenToOthersIsRefused() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let real = runner.sessionDirectory + "-real"
    mkdir(real, 0o700)
    defer { try? FileManager.default.removeItem(atPath: real) }
    symlink(real, runner.sessionDirectory)
    let linked = try runner.run(["fin"])
    #expect(linked.status == 1)
    #expect(linked.errorLines.count == 1)
    #expect(linked.stderr.contains("symbolic link"), "\(linked.stderr)")
    unlink(runner.sessionDirectory)
    mkdir(runner.sessionDirectory, 0o755)
    chmod(runner.sessionDirectory, 0o755)
    if Self.sessionOwner != geteuid() { chown(runner.sessionDirectory, Self.sessionOwner, gid_t.max) }
    let open = try runner.run(["fin"])
    #expect(open.status == 1)
    #expect(open.errorLines.count == 1)
    #expect(open.stderr.contains("mode is 755"), "\(open.stderr)")
  }

  /// As a normal user (setpriv, uid 65534): root's directory is not theirs, and is refused
  /// before anything else.
  @Test(.enabled(if: SafetySessionTests.isRoot, "needs root to drop to nobody"))
  func aNormalUserRefusesADirectoryTheyDoNotOwn() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let copy = try SafetyTestSupport.binaryCopy(for: runner)
    defer { SafetyTestSupport.remove(copy) }
    mkdir(runner.sessionDirectory, 0o755)
    chmod(runner.sessionDirectory, 0o755)
    let result = try runner.run(["fin"], prefix: SafetyTestSupport.asNobody, binary: copy)
    #expect(result.status == 1)
    #expect(result.errorLines.count == 1)
    #expect(result.stderr.contains("belongs to uid 0, not to uid 65534"), "\(result.stderr)")
  }

  /// Under sudo (root with SUDO_UID), sessions belong to the invoking user: root creates the
  /// directory and files for them, and plain root (no SUDO_UID) refuses that user's directory.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && SafetySessionTests.isRoot, "needs root"))
  func underSudoSessionsBelongToTheInvokingUser() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let sudo = ["env", "SUDO_UID=65534"]
    let handshake = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--quiet"], prefix: sudo)
    #expect(handshake.status == 0, "\(handshake.stderr)")
    var info = stat()
    stat(runner.sessionDirectory, &info)
    #expect(info.st_uid == Self.nobody && info.st_mode & 0o777 == 0o700)
    let name = try #require(Self.files(runner.sessionDirectory).first)
    stat(runner.sessionDirectory + "/" + name, &info)
    #expect(info.st_uid == Self.nobody && info.st_mode & 0o777 == 0o600)
    let plainRoot = try runner.run(["fin"], prefix: ["env", "-u", "SUDO_UID"])
    #expect(plainRoot.status == 1)
    #expect(plainRoot.stderr.contains("belongs to uid 65534, not to uid 0"), "\(plainRoot.stderr)")
    let fin = try runner.run(["fin", "--quiet"], prefix: sudo)
    #expect(fin.status == 0, "\(fin.stderr)")
    #expect(server.waitUntilFinished())
    #expect(waitUntil { Self.files(runner.sessionDirectory).isEmpty })
  }

  /// A setcap user's session directory squatted by someone else in advance (here root, mode
  /// 0777): refused with one line, nothing written into it.
  @Test(.enabled(if: SafetySessionTests.isRoot && Privileges.haveTool("setcap"), "needs root and setcap"))
  func aSquattedDirectoryIsRefusedForASetcapUser() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let copy = try SafetyTestSupport.capableCopy(for: runner)
    defer { SafetyTestSupport.remove(copy) }
    mkdir(runner.sessionDirectory, 0o777)
    chmod(runner.sessionDirectory, 0o777)
    for command in [["fin"], ["handshake", "127.0.0.1:9"]] {
      let result = try runner.run(command, prefix: SafetyTestSupport.asNobody, binary: copy)
      #expect(result.status == 1, "\(command): \(result.stderr)")
      #expect(result.errorLines.count == 1, "\(result.stderr)")
      #expect(result.stderr.contains("refused") && result.stderr.contains("belongs to uid 0, not to uid 65534"), "\(result.stderr)")
    }
    #expect(Self.files(runner.sessionDirectory).isEmpty)
  }

  // MARK: - The files

  @Test(.enabled(if: SafetySessionTests.isRoot, "needs root to plant another user's file"))
  func plantedOrInvalidSessionFilesAreNeverUsed() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let foreign = Self.sessionJSON(localPort: 40_001, remotePort: 9)
    Self.plant(runner, [foreign], owner: Self.nobody)
    let garbage = (name: "127.0.0.1_9_40002.json", data: Data("{\"localAddress\": 1}".utf8))
    // A valid-looking file whose name does not match its 4-tuple.
    let misnamed = (name: "127.0.0.1_9_40003.json", data: Self.sessionJSON(localPort: 40_004, remotePort: 9).data)
    let tokenless = (name: "127.0.0.1_9_40005.json", data: Self.sessionJSON(localPort: 40_005, remotePort: 9, token: "x").data)
    Self.plant(runner, [garbage, misnamed, tokenless])
    let result = try runner.run(["fin"])
    #expect(result.status == 1)
    #expect(result.stderr.contains("no saved session"), "\(result.stderr)")
    #expect(result.stderr.contains("4 files ignored"), "\(result.stderr)")
    #expect(result.errorLines.count == 1)
    #expect(!result.stdout.contains("Flags [F"))
    #expect(Self.files(runner.sessionDirectory).count == 4)  // nothing removed either
  }

  @Test func finWithSeveralSessionsListsThemAndExitsTwo() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    Self.plant(runner, [Self.sessionJSON(localPort: 40_011, remotePort: 9), Self.sessionJSON(localPort: 40_012, remotePort: 9)])
    let result = try runner.run(["fin"])
    #expect(result.status == 2)
    #expect(result.stderr.contains("2 sessions"))
    #expect(result.stderr.contains("127.0.0.1:40011 → 127.0.0.1:9"))
    #expect(result.stderr.contains("127.0.0.1:40012 → 127.0.0.1:9"))
    #expect(!result.stdout.contains("Flags [F"))
    #expect(Self.files(runner.sessionDirectory).count == 2)
    // `data` picks its session the same way.
    let data = try runner.run(["data", "hello"])
    #expect(data.status == 2)
    #expect(data.stderr.contains("2 sessions"), "\(data.stderr)")
    #expect(!data.stdout.contains("Flags [P"))
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func finNeverSendsFromASessionThatWasNotEstablishedOrNotOurs() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = try closedPort()
    Self.plant(runner, [Self.sessionJSON(localPort: 40_021, remotePort: port, state: "SYN_SENT")])
    let early = try runner.run(["fin"])
    #expect(early.status == 1)
    #expect(early.stderr.contains("never reached ESTABLISHED"), "\(early.stderr)")
    #expect(!early.stdout.contains("Flags [F"))
    #expect(Self.files(runner.sessionDirectory).count == 1)
    try FileManager.default.removeItem(atPath: runner.sessionDirectory)
    // A session claiming an address that is not ours toward the peer (a spoofed FIN).
    Self.plant(runner, [Self.sessionJSON(local: "192.0.2.7", localPort: 40_022, remotePort: port)])
    let spoofed = try runner.run(["fin"])
    #expect(spoofed.status == 1)
    #expect(spoofed.stderr.contains("not this machine's address"), "\(spoofed.stderr)")
    #expect(!spoofed.stdout.contains("Flags [F"))
  }

  // MARK: - The holder

  /// fin signals the holder only when the process a pidfd pins carries the session's token: a
  /// live guard holder of *another* session (same binary, `__hold-guard`) is left alone.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func finSignalsOnlyTheHolderWithTheSessionsToken() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let holder = try runner.establish(server)
    let name = try #require(Self.files(runner.sessionDirectory).first)
    let path = runner.sessionDirectory + "/" + name
    // A decoy: a real holder of ours, for a session that does not exist, with its own token.
    let decoyPort = try closedPort()
    let decoy = Process()
    decoy.executableURL = URL(fileURLWithPath: try #require(CommandRunner.binary))
    decoy.arguments = [
      "__hold-guard", "--src", "127.0.0.1", "--sport", String(decoyPort), "--dst", "127.0.0.1", "--dport", "9",
      "--hold", "30", "--session", runner.sessionDirectory + "/decoy.json", "--token", String(repeating: "cd", count: 16),
    ]
    var environment = ProcessInfo.processInfo.environment
    environment["TCPCRAFT_SESSION_DIR"] = runner.sessionDirectory
    decoy.environment = environment
    let lifeline = Pipe()
    let ready = Pipe()
    decoy.standardInput = lifeline
    decoy.standardOutput = ready
    try decoy.run()
    defer {
      if decoy.isRunning { decoy.terminate() }
      decoy.waitUntilExit()
    }
    #expect(waitUntil(seconds: 5) { CommandRunner.guardTablesExist(holder: decoy.processIdentifier) })
    // Point the session at the decoy.
    var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    object["holderPID"] = Int(decoy.processIdentifier)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    let fin = try runner.run(["fin"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    usleep(800_000)
    #expect(decoy.isRunning, "the decoy holder was signalled")
    // The real holder leaves on its own (its session file is gone), taking its table.
    #expect(waitUntil(seconds: 5) { !Self.alive(holder) && !CommandRunner.guardTablesExist(holder: holder) })
    // The decoy leaves when its lifeline closes (it was never released).
    try lifeline.fileHandleForWriting.close()
    #expect(waitUntil(seconds: 5) { !decoy.isRunning })
    #expect(!CommandRunner.guardTablesExist(holder: decoy.processIdentifier))
  }

  /// An interrupted handshake (SIGINT, SIGTERM, SIGKILL) takes its holder, its guard and its
  /// session file with it. The SYN goes to a listener whose accept queue is full, so the
  /// handshake is still waiting when the signal comes.
  @Test(
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"),
    arguments: [SIGINT, SIGTERM, SIGKILL])
  func anInterruptedHandshakeTakesItsHolderAndSession(signal: Int32) throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (listener, port) = try KernelSockets.listener(backlog: 0)
    defer { close(listener) }
    var clients: [Int32] = []
    defer { clients.forEach { close($0) } }
    for _ in 0..<2 {
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
      _ = KernelSockets.connect(fd, port: port)
      clients.append(fd)
    }
    usleep(200_000)
    let running = try runner.start(["handshake", "127.0.0.1:\(port)", "--timeout", "15", "--quiet"])
    var holder: Int32 = 0
    #expect(
      waitUntil(seconds: 5) {
        guard let name = Self.files(runner.sessionDirectory).first(where: { $0.hasSuffix(".json") }),
          let data = FileManager.default.contents(atPath: runner.sessionDirectory + "/" + name),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let pid = object["holderPID"] as? Int, pid > 0
        else { return false }
        holder = Int32(pid)
        return true
      })
    #expect(holder > 0 && CommandRunner.guardTablesExist(holder: holder))
    kill(running.process.processIdentifier, signal)
    let result = running.finish(timeout: 10)
    // Ended by that very signal (not by the runner's fallback kill after the timeout).
    #expect(running.process.terminationReason == .uncaughtSignal)
    #expect(result.status == signal)
    #expect(waitUntil(seconds: 5) { !Self.alive(holder) }, "holder \(holder) outlived the handshake")
    #expect(waitUntil(seconds: 3) { !CommandRunner.guardTablesExist(holder: holder) })
    #expect(Self.files(runner.sessionDirectory).isEmpty)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func aSecondHandshakeOnAHeldFourTupleIsRefused() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let server = try Listener()
    let sourcePort = KernelSockets.sourcePort()
    let first = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--sport", String(sourcePort), "--json"])
    #expect(first.status == 0, "stderr: \(first.stderr)")
    let holder = try #require(first.guardHolderPID)
    let name = try #require(Self.files(runner.sessionDirectory).first)
    let before = FileManager.default.contents(atPath: runner.sessionDirectory + "/" + name)
    let second = try runner.run(["handshake", "127.0.0.1:\(server.port)", "--sport", String(sourcePort)])
    #expect(second.status == 1)
    #expect(second.errorLines.count == 1)
    #expect(second.stderr.contains("already held"), "\(second.stderr)")
    #expect(!second.stdout.contains("Flags [S]"))
    // The first session is untouched, its holder alive.
    #expect(FileManager.default.contents(atPath: runner.sessionDirectory + "/" + name) == before)
    #expect(Self.alive(holder))
    let fin = try runner.run(["fin"])
    #expect(fin.status == 0, "stderr: \(fin.stderr)")
    #expect(waitUntil(seconds: 5) { !Self.alive(holder) })
  }

  /// Two fins at once on one session: one wins, the other says so and exits 1. The winner fails
  /// here (the peer's application never closes), so the session is kept for a retry.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func concurrentFinsOneWinsAndAFailedFinKeepsTheSession() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let (listener, port) = try KernelSockets.listener()
    defer { close(listener) }
    let handshake = try runner.run(["handshake", "127.0.0.1:\(port)", "--json", "--hold", "20"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    let holder = try #require(handshake.guardHolderPID)
    // The application accepts and then holds the connection open: no FIN from the peer.
    var connection = try #require(KernelSockets.accept(listener, milliseconds: 3000))
    defer { if connection >= 0 { close(connection) } }
    let name = try #require(Self.files(runner.sessionDirectory).first)
    // The second fin comes while the first, having claimed the session and sent its FIN, waits
    // for the peer's (which never comes): after the first says it sent it, well within its wait.
    let first = try runner.start(["fin", "--timeout", "5"])
    #expect(first.waitForOutput(timeout: 10) { lines in lines.contains { $0.contains("Flags [F.]") } })
    let second = try runner.run(["fin", "--timeout", "2"])
    #expect(second.status == 1)
    #expect(second.errorLines.count == 1)
    #expect(second.stderr.contains("is using 127.0.0.1:"), "\(second.stderr)")
    #expect(!second.stdout.contains("Flags [F"))
    let firstResult = first.finish(timeout: 15)
    #expect(firstResult.status == 1)
    #expect(firstResult.stdout.contains("Flags [F.]"))
    #expect(firstResult.stderr.contains("the session is kept"), "\(firstResult.stderr)")
    // Kept: the file and its holder are still there, and a retry is possible.
    #expect(Self.files(runner.sessionDirectory) == [name])
    #expect(Self.alive(holder))
    close(connection)
    connection = -1
    let retry = try runner.run(["fin", "--timeout", "2"])
    #expect(retry.stdout.contains("Flags [F.]"))
    #expect(retry.status == 0, "\(retry.stderr)")
    #expect(waitUntil(seconds: 5) { !Self.alive(holder) })
    #expect(waitUntil(seconds: 3) { Self.files(runner.sessionDirectory).isEmpty })
  }
}

/// Running the binary as a normal user.
enum SafetyTestSupport {
  static let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

  /// A copy of the binary nobody can reach and run (the build directory may be private).
  static func binaryCopy(for runner: CommandRunner) throws -> String {
    guard let binary = CommandRunner.binary else { throw RunnerError("tcpcraft binary not found") }
    let directory = runner.sessionDirectory + "-bin"
    try FileManager.default.createDirectory(
      atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    let copy = directory + "/tcpcraft"
    try FileManager.default.copyItem(atPath: binary, toPath: copy)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
    return copy
  }

  /// A copy given exactly the documented grant (`setcap cap_net_raw,cap_net_admin+ep`), for
  /// running as a normal user with capabilities.
  static func capableCopy(for runner: CommandRunner) throws -> String {
    let copy = try binaryCopy(for: runner)
    guard (try? Subprocess.run(["setcap", "cap_net_raw,cap_net_admin+ep", copy], errorOutput: .discarded))?.status == 0 else {
      remove(copy)
      throw RunnerError("setcap failed on \(copy)")
    }
    return copy
  }

  static func remove(_ copy: String) {
    try? FileManager.default.removeItem(atPath: (copy as NSString).deletingLastPathComponent)
  }
}
