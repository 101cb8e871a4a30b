// The veth pair of `demo --serve --veth`: the netlink request read back field by field, and the
// real thing between two namespaces the test makes (never the host's).
import Foundation
import Glibc
import RawSocket
import TestSupport
import Testing

@Suite("VethPair", .serialized)
struct VethPairTests {
  /// (type, payload) of each attribute in `bytes` (nested flag kept in the type).
  static func attributes(_ bytes: ArraySlice<UInt8>) -> [(type: UInt16, payload: ArraySlice<UInt8>)] {
    var found: [(UInt16, ArraySlice<UInt8>)] = []
    var index = bytes.startIndex
    while index + 4 <= bytes.endIndex {
      let length = Int(UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8)
      let type = UInt16(bytes[index + 2]) | UInt16(bytes[index + 3]) << 8
      guard length >= 4, index + length <= bytes.endIndex else { break }
      found.append((type, bytes[(index + 4)..<(index + length)]))
      index += (length + 3) & ~3
    }
    return found
  }

  static func string(_ payload: ArraySlice<UInt8>) -> String { String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self) }
  static func uint32(_ payload: ArraySlice<UInt8>) -> UInt32 {
    payload.prefix(4).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
  }

  @Test("the RTM_NEWLINK request: names, MTU, kind veth, the peer's namespace descriptor")
  func request() throws {
    let bytes = VethPair.request(name: "veth-client", peerName: "veth-server", peerNamespace: 7, mtu: 576).finalize(sequence: 1)
    #expect(bytes.count % 4 == 0)
    #expect(Self.uint32(bytes[0..<4]) == UInt32(bytes.count))
    #expect(bytes[4] == 16 && bytes[5] == 0, "RTM_NEWLINK")
    // NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
    #expect(UInt16(bytes[6]) | UInt16(bytes[7]) << 8 == 0x0001 | 0x0004 | 0x0200 | 0x0400)
    let top = Self.attributes(bytes[32...])  // 16 header + 16 ifinfomsg
    #expect(top.map(\.type) == [3, 4, 18 | 0x8000])
    #expect(Self.string(top[0].payload) == "veth-client")
    #expect(Self.uint32(top[1].payload) == 576)
    let info = Self.attributes(top[2].payload)
    #expect(info.map(\.type) == [1, 2 | 0x8000])
    #expect(Self.string(info[0].payload) == "veth")
    let data = Self.attributes(info[1].payload)
    #expect(data.map(\.type) == [1 | 0x8000])
    let peer = try #require(data.first).payload
    #expect(peer.prefix(16).allSatisfy { $0 == 0 }, "the peer's ifinfomsg")
    let peerAttributes = Self.attributes(peer.dropFirst(16))
    #expect(peerAttributes.map(\.type) == [3, 4, 28])
    #expect(Self.string(peerAttributes[0].payload) == "veth-server")
    #expect(Self.uint32(peerAttributes[1].payload) == 576)
    #expect(Self.uint32(peerAttributes[2].payload) == 7)
  }

  @Test(
    "a veth between two namespaces of our own: made, its MTU set, its offloads off",
    .enabled(if: Privileges.shouldRun(.netAdmin), "needs CAP_NET_ADMIN (root, or a private user namespace)"))
  func realPair() throws {
    try Privileges.check(.netAdmin)
    final class Outcome: @unchecked Sendable {
      var error: String?
      var before: [String: Bool] = [:]
      var after: [String: Bool] = [:]
      var peerAfter: [String: Bool] = [:]
    }
    let outcome = Outcome()
    // On a thread of its own in a new namespace: the host's namespace is never touched, and all
    // of it goes when the thread and the descriptor are gone.
    let thread = try IsolatedThread.start {
      do {
        try NetworkNamespace.unshareCurrentThread()
        let other = try NetworkNamespace.makeAnonymous()
        defer { try? other.close() }
        try VethPair.create(name: "vt-a", peerName: "vt-b", peerNamespace: other.rawValue, mtu: 576)
        outcome.before = try InterfaceSetup.offloads("vt-a")
        try InterfaceSetup.disableOffloads("vt-a")
        outcome.after = try InterfaceSetup.offloads("vt-a")
        outcome.peerAfter = try NetworkNamespace.run(inNamespaceAt: "/proc/self/fd/\(other.rawValue)") { () throws -> [String: Bool] in
          try InterfaceSetup.disableOffloads("vt-b")
          return try InterfaceSetup.offloads("vt-b")
        }
      } catch {
        outcome.error = "\(error)"
      }
    }
    thread.join()
    #expect(outcome.error == nil, "\(outcome.error ?? "")")
    // A veth starts with TSO and GSO on (what hides segmentation); ours ends with everything off.
    #expect(outcome.before["tso"] == true && outcome.before["gso"] == true, "\(outcome.before)")
    #expect(outcome.after.count == 4 && outcome.after.values.allSatisfy { !$0 }, "\(outcome.after)")
    #expect(outcome.peerAfter.count == 4 && outcome.peerAfter.values.allSatisfy { !$0 }, "\(outcome.peerAfter)")
  }
}
