// The typed wrappers for listening sockets, file writes, sleeps and clocks: real calls on real
// descriptors (no privilege needed), and, in debug builds, their errors forced through the seam.
import Foundation
import Glibc
import Testing
@testable import RawSocket

@Suite("Listener, file and sleep wrappers")
struct SeamWrapperTests {
  /// A TCP listener on 127.0.0.1, an ephemeral port.
  func listener() throws -> (SocketDescriptor, UInt16) {
    let socket = try SocketDescriptor.open(domain: AF_INET, type: CInt(SOCK_STREAM.rawValue), protocol: 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    try withUnsafeBytes(of: &address) { try socket.bind(address: $0) }
    try socket.listen(backlog: 4)
    let local = try socket.localIPv4Address()
    #expect(local.address == 0x7F00_0001)
    #expect(local.port != 0)
    return (socket, local.port)
  }

  @Test func listenAcceptAndEcho() throws {
    let (server, port) = try listener()
    defer { try? server.close() }
    // A kernel client connects; accept hands us the connection, and bytes flow both ways.
    let client = try SocketDescriptor.open(domain: AF_INET, type: CInt(SOCK_STREAM.rawValue), protocol: 0)
    defer { try? client.close() }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    #expect(connected == 0)
    #expect(try server.poll(for: .readable, timeout: .seconds(2)).contains(.readable))
    let connection = try #require(try server.accept())
    defer { try? connection.close() }
    let sent = try Array("ping".utf8).withUnsafeBytes { try client.send($0, to: nil) }
    #expect(sent == 4)
    var buffer = [UInt8](repeating: 0, count: 16)
    let count = try buffer.withUnsafeMutableBytes { try connection.receive(into: $0) }
    #expect(count == 4)
    #expect(Array(buffer[0..<4]) == Array("ping".utf8))
  }

  @Test func acceptOnANonBlockingListenerWithNothingPendingIsNil() throws {
    let (server, _) = try listener()
    defer { try? server.close() }
    let flags = fcntl(server.rawValue, F_GETFL)
    #expect(fcntl(server.rawValue, F_SETFL, flags | O_NONBLOCK) == 0)
    #expect(try server.accept() == nil)
  }

  @Test func createWriteAndRefuseASymlink() throws {
    let directory = NSTemporaryDirectory() + "seam-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/out.bin"
    let file = try FileDescriptor.create(path: path)
    let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
    try bytes.withUnsafeBytes { try file.writeAll($0) }
    try file.close()
    #expect(FileManager.default.contents(atPath: path) == Data(bytes))
    // Created again: emptied.
    try FileDescriptor.create(path: path).close()
    #expect(FileManager.default.contents(atPath: path)?.count == 0)
    // A symbolic link in the file's place is refused, and its target is left alone.
    let target = directory + "/target"
    #expect(FileManager.default.createFile(atPath: target, contents: Data("keep".utf8)))
    let link = directory + "/link"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    #expect(throws: Errno(rawValue: ELOOP)) { try FileDescriptor.create(path: link) }
    #expect(FileManager.default.contents(atPath: target) == Data("keep".utf8))
  }

  @Test func clocksMove() {
    let boot = SystemClock.bootTime()
    let wall = SystemClock.realTime()
    #expect(boot.seconds >= 0 && (0..<1_000_000_000).contains(boot.nanoseconds))
    #expect(wall.seconds > 1_700_000_000)
    SystemSleep.sleep(for: .milliseconds(2))
    let later = SystemClock.bootTime()
    #expect(later.seconds * 1_000_000_000 + Int64(later.nanoseconds) > boot.seconds * 1_000_000_000 + Int64(boot.nanoseconds))
  }

  @Test func interfaceIndexAndTerminalCheck() throws {
    // Loopback exists in every namespace; a made-up name (longer than IFNAMSIZ) never does.
    let loopback = try #require(NetworkInterfaces.index(named: "lo"))
    #expect(NetworkInterfaces.namesByIndex()[loopback] == "lo")
    #expect(NetworkInterfaces.index(named: "tcpcraft-no-such-interface-\(getpid())") == nil)
    // /dev/null is a character device but no terminal; a closed descriptor is none either.
    let null = try FileDescriptor.openNullDevice()
    defer { try? null.close() }
    #expect(!null.isTerminal)
    #expect(!FileDescriptor(rawValue: -1).isTerminal)
    // Everyone may write into /tmp; nobody into a path that does not exist.
    #expect(SafeFile.isWritable("/tmp"))
    #expect(!SafeFile.isWritable("/nonexistent-\(getpid())"))
  }

  @Test(.enabled(if: MockingDriver.isAvailable, "debug builds only"))
  func interfaceAndTerminalQueriesGoThroughTheSeam() throws {
    MockingDriver.withMocking { driver in
      driver.force(.noSuchDevice, on: "if_nametoindex")
      #expect(NetworkInterfaces.index(named: "lo") == nil)
      driver.force(.badFileDescriptor, on: "isatty")
      #expect(!FileDescriptor.standardError.isTerminal)
      driver.force(.interrupted, on: "fsync")
      driver.force(Errno(rawValue: ENOSPC), on: "fsync")
      #expect(throws: Errno(rawValue: ENOSPC)) { try FileDescriptor(rawValue: -1).synchronize() }
      driver.force(.permissionDenied, on: "access")
      #expect(!SafeFile.isWritable("/"))
      #expect(driver.calls == ["if_nametoindex", "isatty", "fsync", "fsync", "access"])
    }
  }

  @Test(.enabled(if: MockingDriver.isAvailable, "debug builds only"))
  func forcedErrorsReachTheCaller() throws {
    let (server, _) = try listener()
    defer { try? server.close() }
    MockingDriver.withMocking { driver in
      // accept: EINTR is retried, then a forced error is thrown.
      driver.force(.interrupted, on: "accept4")
      driver.force(.noMemory, on: "accept4")
      #expect(throws: Errno.noMemory) { try server.accept() }
      #expect(driver.calls == ["accept4", "accept4"])
      // write: a forced EINTR is retried, a forced ENOSPC thrown; the file is never touched.
      driver.force(Errno(rawValue: ENOSPC), on: "write")
      #expect(throws: Errno(rawValue: ENOSPC)) { try [1, 2, 3].withUnsafeBytes { try FileDescriptor(rawValue: -1).writeAll($0) } }
      driver.force(.permissionDenied, on: "open")
      #expect(throws: Errno.permissionDenied) { try FileDescriptor.create(path: "/nonexistent/never-created") }
      // nanosleep: an interrupted sleep sleeps again for what is left.
      driver.force(.interrupted, on: "nanosleep", times: 2)
      SystemSleep.sleep(for: .milliseconds(1))
      #expect(driver.calls.suffix(3) == ["nanosleep", "nanosleep", "nanosleep"])
      driver.force(.invalidArgument, on: "listen")
      #expect(throws: Errno.invalidArgument) { try server.listen(backlog: 1) }
    }
  }
}
