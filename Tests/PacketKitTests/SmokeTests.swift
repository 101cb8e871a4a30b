import Testing
@testable import PacketKit

@Test func smoke() throws {
  let p = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1") / TCPHeader(sourcePort: 1, destinationPort: 2) / "hi"
  let bytes = try p.encoded()
  #expect(bytes.count == 42)
}
