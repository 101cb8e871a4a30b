// The read side of the file wrappers (decode's capture reads, the guard holder's pipes): real
// files and pipes, and in debug builds their errors forced through the seam.
import Foundation
import Glibc
import Testing
@testable import RawSocket

@Suite("File read and duplicate wrappers")
struct SeamReadTests {
  func scratchDirectory() throws -> String {
    let directory = NSTemporaryDirectory() + "seam-read-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    return directory
  }

  @Test func readsAFileInChunksAndRefusesASymlink() throws {
    let directory = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/in.bin"
    let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    let file = try FileDescriptor.openForReading(path: path)
    defer { try? file.close() }
    #expect(file.status()?.isRegularFile == true)
    #expect(file.status()?.size == 300_000)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var collected: [UInt8] = []
    for _ in 0..<100 {
      let count = try file.read(into: &chunk)
      if count == 0 { break }
      collected += chunk[0..<count]
    }
    #expect(collected == bytes)
    // A symbolic link is refused (not followed), a missing file named as such.
    let link = directory + "/link"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
    #expect(throws: Errno(rawValue: ELOOP)) { try FileDescriptor.openForReading(path: link) }
    #expect(throws: Errno(rawValue: ENOENT)) { try FileDescriptor.openForReading(path: directory + "/none") }
    // A directory opens (read-only), and its status says so: decode refuses it by that.
    let opened = try FileDescriptor.openForReading(path: directory)
    #expect(opened.status()?.isDirectory == true)
    try opened.close()
  }

  @Test func duplicateOntoMovesWritesToTheOtherDescriptor() throws {
    var ends: [CInt] = [-1, -1]
    #expect(pipe(&ends) == 0)
    let reader = FileDescriptor(rawValue: ends[0])
    let writer = FileDescriptor(rawValue: ends[1])
    defer { try? reader.close() }
    // A spare descriptor made a copy of the pipe's write end: what goes to it comes out the pipe.
    let spare = try FileDescriptor.openNullDevice()
    try writer.duplicate(onto: spare)
    try writer.close()
    try spare.writeAll(Array("keep\n".utf8))
    try spare.close()
    var buffer = [UInt8](repeating: 0, count: 16)
    let count = try reader.read(into: &buffer)
    #expect(Array(buffer[0..<count]) == Array("keep\n".utf8))
    // Every write end is closed: end of file.
    #expect(try reader.read(into: &buffer) == 0)
  }

  @Test(.enabled(if: MockingDriver.isAvailable, "debug builds only"))
  func forcedErrorsReachTheCaller() throws {
    var ends: [CInt] = [-1, -1]
    #expect(pipe(&ends) == 0)
    let reader = FileDescriptor(rawValue: ends[0])
    let writer = FileDescriptor(rawValue: ends[1])
    defer {
      try? reader.close()
      try? writer.close()
    }
    try writer.writeAll([1, 2, 3])
    try MockingDriver.withMocking { driver throws in
      // read: EINTR is retried (the bytes still come), EIO is thrown.
      driver.force(.interrupted, on: "read")
      var buffer = [UInt8](repeating: 0, count: 8)
      #expect(try reader.read(into: &buffer) == 3)
      #expect(driver.calls == ["read", "read"])
      driver.force(Errno(rawValue: EIO), on: "read")
      #expect(throws: Errno(rawValue: EIO)) { try reader.read(into: &buffer) }
      driver.force(.permissionDenied, on: "open")
      #expect(throws: Errno.permissionDenied) { try FileDescriptor.openForReading(path: "/nonexistent/never") }
      driver.force(Errno(rawValue: EBADF), on: "dup2")
      #expect(throws: Errno(rawValue: EBADF)) { try writer.duplicate(onto: .standardOutput) }
    }
  }
}
