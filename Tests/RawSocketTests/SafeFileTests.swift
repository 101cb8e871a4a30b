import Foundation
import Testing

@testable import RawSocket

/// SafeFile and SafeDirectory against the attacks a shared machine allows: a planted symbolic
/// link, a hard link, another user's file, a FIFO, a directory swapped for a link, and a rename
/// race. Run as root, the attacks are planted with files of uid 65534 (nobody) in a sticky,
/// world-writable folder, the way /tmp is.
@Suite(.serialized) struct SafeFileTests {
  static let nobody: uid_t = 65534

  /// A fresh folder like /tmp (mode 1777), removed at the end.
  final class Folder {
    let path: String
    init(mode: mode_t = 0o1777) {
      path = NSTemporaryDirectory() + "tcpcraft-safefile-\(getpid())-\(UUID().uuidString.prefix(8))"
      mkdir(path, 0o700)
      chmod(path, mode)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ text: String, owner: uid_t? = nil) {
      _ = FileManager.default.createFile(atPath: file(name), contents: Data(text.utf8))
      if let owner { chown(file(name), owner, gid_t(owner)) }
    }
    func read(_ name: String) -> String? {
      FileManager.default.contents(atPath: file(name)).map { String(decoding: $0, as: UTF8.self) }
    }
    var names: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
  }

  static var isRoot: Bool { geteuid() == 0 }

  final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
  }

  // MARK: - openForWriting

  @Test func createsAMissingFileAndTruncatesOurOwn() throws {
    let folder = Folder()
    let fd = try SafeFile.openForWriting(folder.file("out.pcap"))
    try SafeFile.writeAll(fd, Array("first, longer".utf8), path: "out.pcap")
    close(fd)
    #expect(folder.read("out.pcap") == "first, longer")
    let again = try SafeFile.openForWriting(folder.file("out.pcap"))
    try SafeFile.writeAll(again, Array("second".utf8), path: "out.pcap")
    close(again)
    #expect(folder.read("out.pcap") == "second")
  }

  @Test func refusesASymbolicLinkAndLeavesItsTargetAlone() throws {
    let folder = Folder()
    folder.write("target", "secret", owner: Self.isRoot ? Self.nobody : nil)
    symlink(folder.file("target"), folder.file("ring.pcap"))
    #expect(throws: FileSafetyError.self) { _ = try SafeFile.openForWriting(folder.file("ring.pcap")) }
    #expect(throws: FileSafetyError.self) { try SafeFile.write(Array("x".utf8), to: folder.file("ring.pcap")) }
    #expect(folder.read("target") == "secret")
    // A dangling link (to a file that does not exist yet) is not followed to create it.
    symlink(folder.file("created-through-link"), folder.file("dangling.pcap"))
    #expect(throws: FileSafetyError.self) { _ = try SafeFile.openForWriting(folder.file("dangling.pcap")) }
    #expect(!FileManager.default.fileExists(atPath: folder.file("created-through-link")))
    do {
      _ = try SafeFile.openForWriting(folder.file("ring.pcap"))
    } catch {
      #expect(error.isRefusal)
      #expect(error.description.contains("symbolic link"))
    }
  }

  @Test(.enabled(if: SafeFileTests.isRoot, "needs root to plant another user's file"))
  func refusesAnotherUsersFile() throws {
    let folder = Folder()
    folder.write("theirs.pcap", "theirs", owner: Self.nobody)
    #expect(throws: FileSafetyError.self) { _ = try SafeFile.openForWriting(folder.file("theirs.pcap")) }
    #expect(throws: FileSafetyError.self) { try SafeFile.write(Array("x".utf8), to: folder.file("theirs.pcap")) }
    #expect(folder.read("theirs.pcap") == "theirs")
  }

  @Test func refusesAHardLinkAndAFIFO() throws {
    let folder = Folder()
    folder.write("precious", "precious")
    link(folder.file("precious"), folder.file("linked.pcap"))
    #expect(throws: FileSafetyError.self) { _ = try SafeFile.openForWriting(folder.file("linked.pcap")) }
    #expect(throws: FileSafetyError.self) { try SafeFile.write(Array("x".utf8), to: folder.file("linked.pcap")) }
    #expect(folder.read("precious") == "precious")
    mkfifo(folder.file("fifo.pcap"), 0o600)
    // Refused without opening it (opening a FIFO for writing would block).
    #expect(throws: FileSafetyError.self) { _ = try SafeFile.openForWriting(folder.file("fifo.pcap")) }
  }

  @Test func writeReplacesAtomicallyAndLeavesNoTemporaryFile() throws {
    let folder = Folder()
    try SafeFile.write(Array("one".utf8), to: folder.file("a.pcap"))
    try SafeFile.write(Array("two".utf8), to: folder.file("a.pcap"))
    #expect(folder.read("a.pcap") == "two")
    #expect(folder.names == ["a.pcap"])
  }

  /// The rename race: another thread keeps swapping the name between a link to the target and a
  /// plain file while we write again and again. The target is never written.
  @Test func renameRaceNeverReachesTheTarget() throws {
    let folder = Folder()
    folder.write("target", "secret", owner: Self.isRoot ? Self.nobody : nil)
    let name = folder.file("race.pcap")
    let target = folder.file("target")
    let stopped = Flag()
    let attacker = Thread {
      for index in 0..<200_000 {
        if stopped.isSet { break }
        unlink(name)
        if index % 2 == 0 {
          symlink(target, name)
        } else {
          _ = FileManager.default.createFile(atPath: name, contents: Data("plain".utf8))
        }
      }
    }
    attacker.start()
    var written = 0
    var refused = 0
    for _ in 0..<300 {
      do {
        let fd = try SafeFile.openForWriting(name)
        try SafeFile.writeAll(fd, Array("ours".utf8), path: name)
        close(fd)
        written += 1
      } catch {
        refused += 1
      }
      do {
        try SafeFile.write(Array("ours".utf8), to: name)
        written += 1
      } catch {
        refused += 1
      }
    }
    stopped.set()
    Thread.sleep(forTimeInterval: 0.1)
    #expect(folder.read("target") == "secret")
    #expect(written + refused == 600)
  }

  // MARK: - SafeDirectory

  @Test func privateDirectoryIsCreated0700AndReadsOnlyOurRegularFiles() throws {
    let folder = Folder()
    let path = folder.file("sessions")
    let directory = try SafeDirectory.openPrivate(path, owner: UInt32(geteuid()), create: true)
    var info = stat()
    stat(path, &info)
    #expect(info.st_mode & 0o777 == 0o700)
    try directory.write(Array("{}".utf8), to: "s.json")
    #expect(try directory.read("s.json") == Array("{}".utf8))
    #expect(try directory.read("missing.json") == nil)
    symlink(folder.file("elsewhere"), path + "/link.json")
    #expect(throws: FileSafetyError.self) { _ = try directory.read("link.json") }
    #expect(throws: FileSafetyError.self) { _ = try directory.read("../escape") }
    #expect(directory.names().sorted() == ["link.json", "s.json"])
    // remove never follows the link.
    _ = FileManager.default.createFile(atPath: folder.file("elsewhere"), contents: Data("keep".utf8))
    #expect(directory.remove("link.json"))
    #expect(folder.read("elsewhere") == "keep")
  }

  @Test func privateDirectoryRefusesALinkAWideModeAndAnotherOwner() throws {
    let folder = Folder()
    let real = folder.file("real")
    mkdir(real, 0o700)
    symlink(real, folder.file("link"))
    #expect(throws: FileSafetyError.self) {
      _ = try SafeDirectory.openPrivate(folder.file("link"), owner: UInt32(geteuid()), create: true)
    }
    let wide = folder.file("wide")
    mkdir(wide, 0o700)
    chmod(wide, 0o755)
    #expect(throws: FileSafetyError.self) { _ = try SafeDirectory.openPrivate(wide, owner: UInt32(geteuid()), create: true) }
    if Self.isRoot {
      // Created in advance by someone else (the /tmp/tcpcraft-<uid> squat).
      let squatted = folder.file("squatted")
      mkdir(squatted, 0o700)
      chown(squatted, Self.nobody, gid_t(Self.nobody))
      #expect(throws: FileSafetyError.self) { _ = try SafeDirectory.openPrivate(squatted, owner: 0, create: true) }
      // A file in our directory that another user owns is never read.
      let ours = try SafeDirectory.openPrivate(folder.file("ours"), owner: 0, create: true)
      _ = FileManager.default.createFile(atPath: folder.file("ours") + "/planted.json", contents: Data("{}".utf8))
      chown(folder.file("ours") + "/planted.json", Self.nobody, gid_t(Self.nobody))
      #expect(throws: FileSafetyError.self) { _ = try ours.read("planted.json") }
    }
  }

  /// A directory swapped for a link after it was opened: work stays in the directory opened.
  @Test func swappingTheDirectoryForALinkRedirectsNothing() throws {
    let folder = Folder()
    let path = folder.file("sessions")
    let directory = try SafeDirectory.openPrivate(path, owner: UInt32(geteuid()), create: true)
    try directory.write(Array("a".utf8), to: "a.json")
    let elsewhere = folder.file("elsewhere")
    mkdir(elsewhere, 0o700)
    _ = FileManager.default.createFile(atPath: elsewhere + "/a.json", contents: Data("victim".utf8))
    rename(path, folder.file("moved"))
    symlink(elsewhere, path)
    #expect(directory.remove("a.json"))
    #expect(FileManager.default.contents(atPath: elsewhere + "/a.json") == Data("victim".utf8))
    #expect(!FileManager.default.fileExists(atPath: folder.file("moved") + "/a.json"))
  }

  // MARK: - pidfds

  @Test func aPidfdPinsTheProcessAndSignalsOnlyIt() throws {
    let (readEnd, writeEnd) = try ChildProcess.pipe()
    defer { close(readEnd) }
    let pid = try ChildProcess.spawnDetached(["/bin/sleep", "30"], standardInput: nil, standardOutput: writeEnd)
    close(writeEnd)
    let handle = try #require(ProcessHandle.open(pid: pid))
    // Right after the spawn the child may still be inside execve (an empty command line): wait, bounded.
    var identity = handle.identity()
    for _ in 0..<300 where identity?.arguments.first?.isEmpty ?? true {
      usleep(10_000)
      identity = handle.identity()
    }
    let seen = try #require(identity)
    #expect(seen.arguments.prefix(2) == ["/bin/sleep", "30"])
    #expect(seen.uid == UInt32(getuid()))
    #expect(handle.isAlive)
    try handle.send(SIGTERM)
    #expect(ProcessHandle.reap(child: pid, timeoutMilliseconds: 3000))
    // Gone (and reaped): the pidfd now refuses, it never reaches a process that reuses the pid.
    #expect(!handle.isAlive)
    #expect(throws: SocketError.self) { try handle.send(SIGTERM) }
    handle.close()
    #expect(ProcessHandle.open(pid: 0) == nil)
    #expect(ProcessHandle.open(pid: 1) == nil)
  }

  @Test func randomTokensAreHexAndDiffer() {
    let first = SafeFile.randomHex(bytes: 16)
    let second = SafeFile.randomHex(bytes: 16)
    #expect(first.count == 32 && second.count == 32)
    #expect(first != second)
    #expect(first.allSatisfy { "0123456789abcdef".contains($0) })
  }
}
