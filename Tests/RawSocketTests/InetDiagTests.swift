// inet_diag against real kernel sockets on 127.0.0.1: a listener, a kernel client, and the states
// the test drives them through.
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite struct InetDiagTests {
  @Test func listenEstablishedCloseWaitAndGone() throws {
    let diag = try InetDiag()
    let listener = try makeListener()
    var listenerOpen = true
    defer { if listenerOpen { close(listener.fd) } }

    // LISTEN, found by the listener's own tuple and in the port listing, with its inode and uid.
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: 0, remotePort: 0) == .listen)
    var status = stat()
    #expect(fstat(listener.fd, &status) == 0)
    let onPort = try diag.sockets(localPort: listener.port)
    #expect(onPort.count == 1)
    #expect(onPort.first?.state == .listen)
    #expect(onPort.first.map { UInt64($0.inode) } == UInt64(status.st_ino))
    #expect(onPort.first?.uid == geteuid())

    let client = try connectClient(to: listener.port)
    var clientOpen = true
    defer { if clientOpen { close(client.fd) } }
    let server = try #require(acceptConnection(listener.fd, milliseconds: 2000))
    var serverOpen = true
    defer { if serverOpen { close(server) } }

    // ESTABLISHED on both sides; the listener's port now has two sockets.
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: loopback, remotePort: client.port) == .established)
    #expect(try diag.state(localAddress: loopback, localPort: client.port, remoteAddress: loopback, remotePort: listener.port) == .established)
    let states = try diag.sockets(localPort: listener.port).compactMap(\.state)
    #expect(states.sorted { $0.rawValue < $1.rawValue } == [.established, .listen])

    // A 4-tuple nobody owns: nothing (not the listener, although it owns the local port).
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: loopback, remotePort: 1) == nil)

    // The client closes: the server side reads EOF and sits in CLOSE_WAIT, the client in FIN_WAIT2.
    close(client.fd)
    clientOpen = false
    let serverTuple = { () throws -> KernelTCPState? in
      try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: loopback, remotePort: client.port)
    }
    #expect(try eventually { try serverTuple() == .closeWait })
    // (the server's ACK of the FIN may be delayed a little: FIN_WAIT1 until then)
    #expect(try eventually { try diag.state(localAddress: loopback, localPort: client.port, remoteAddress: loopback, remotePort: listener.port) == .finWait2 })
    #expect(try receive(server, milliseconds: 2000).get() == [])

    // The server closes: its socket is gone once the client ACKs, and the client is in TIME_WAIT.
    close(server)
    serverOpen = false
    #expect(try eventually { try serverTuple() == nil })
    #expect(try diag.state(localAddress: loopback, localPort: client.port, remoteAddress: loopback, remotePort: listener.port) == .timeWait)

    close(listener.fd)
    listenerOpen = false
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: 0, remotePort: 0) == nil)
    #expect(try diag.sockets(localPort: listener.port, states: KernelTCPState.listen.maskBit).isEmpty)
  }

  @Test func nothingForAClosedTuple() throws {
    let port = try unusedPort()
    #expect(try InetDiag.state(localAddress: loopback, localPort: port, remoteAddress: loopback, remotePort: port) == nil)
    #expect(try InetDiag().sockets(localPort: port).isEmpty)
  }
}
