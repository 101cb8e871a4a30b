import Testing

@testable import TCPScript

/// `TCPCRAFT_PEER_NETNS` (set by `sandbox --join`) is followed only when it names a namespace file
/// of the kernel's own: /proc/PID/fd/N or /proc/PID/ns/net.
@Suite struct PeerNamespaceTests {
  @Test func acceptedShapes() {
    for path in ["/proc/4242/fd/7", "/proc/1/ns/net", "/proc/123456/fd/1023"] {
      #expect(PeerNamespace.isAcceptable(path), "\(path)")
    }
    for path in [
      "", "/proc/self/fd/7", "/proc/4242/fd/", "/proc/4242/fd/7/..", "/tmp/netns", "/run/netns/lab", "/proc/4242/ns/user",
      "proc/4242/fd/7", "/proc/4242/fd/7x", "/proc/-1/fd/7", "/proc/42/fd/٣", "//proc/42/fd/3", "/proc/42/../1/ns/net",
    ] {
      #expect(!PeerNamespace.isAcceptable(path), "\(path)")
    }
  }
}
