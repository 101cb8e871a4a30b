// swift-tools-version: 6.1
// tcpcraft — craft, send, capture and script IPv4/TCP on Linux. No package dependencies by design.
import PackageDescription

let package = Package(
  name: "tcpcraft",
  products: [
    .library(name: "PacketKit", targets: ["PacketKit"]),
    .library(name: "RawSocket", targets: ["RawSocket"]),
    .library(name: "TCPScript", targets: ["TCPScript"]),
    .executable(name: "tcpcraft", targets: ["tcpcraft"]),
  ],
  targets: [
    // Bytes only: headers, views, builder, checksum, dissection, formatting, pcap.
    .target(name: "CInternetChecksum"),
    // `Lifetimes`: the non-escapable `RawSpan` views (IPv4SpanView, TCPSpanView) declare their
    // lifetime dependence (`@_lifetime`); code using them needs no flag.
    .target(
      name: "PacketKit", dependencies: ["CInternetChecksum"],
      swiftSettings: [.enableExperimentalFeature("Lifetimes")]),
    // Linux syscalls only: raw sockets, AF_PACKET, BPF, netlink (route, inet_diag, nf_tables).
    .target(name: "CRawSocket"),
    .target(
      name: "RawSocket", dependencies: ["CRawSocket"],
      swiftSettings: [.define("ENABLE_MOCKING", .when(configuration: .debug))]),
    // Flows, the RFC 9293 state machine, expectations, transcripts, exchanges, edge cases.
    .target(name: "TCPScript", dependencies: ["PacketKit", "RawSocket"]),
    .executableTarget(name: "tcpcraft", dependencies: ["TCPScript", "PacketKit", "RawSocket"]),

    // Examples a teacher can hand out (built in CI).
    // What several examples share (HOST:PORT, printing segments, a loopback listener).
    .target(name: "ExampleSupport", dependencies: ["PacketKit", "RawSocket", "TCPScript"], path: "examples/Support"),
    .executableTarget(name: "example-build-syn", dependencies: ["PacketKit"], path: "examples/build-syn"),
    .executableTarget(name: "example-active-open", dependencies: ["ExampleSupport", "TCPScript"], path: "examples/active-open"),
    .executableTarget(name: "example-passive-close", dependencies: ["ExampleSupport", "TCPScript"], path: "examples/passive-close"),
    .executableTarget(name: "example-simultaneous-close", dependencies: ["ExampleSupport", "RawSocket", "TCPScript"], path: "examples/simultaneous-close"),
    .executableTarget(name: "example-rst-injection", dependencies: ["ExampleSupport", "RawSocket", "TCPScript"], path: "examples/rst-injection"),
    .executableTarget(name: "example-syn-every-option", dependencies: ["ExampleSupport", "PacketKit", "TCPScript"], path: "examples/syn-every-option"),

    // Tests. TestSupport holds the privilege gate shared by every test target.
    // A normal user's test binary enters a private user+network namespace before main (no root).
    .target(name: "CTestNamespace", dependencies: ["CRawSocket"], path: "Tests/CTestNamespace"),
    .target(name: "TestSupport", dependencies: ["CTestNamespace"], path: "Tests/TestSupport"),
    // RawSocket only for the host's interface names the tcpdump differential needs.
    .testTarget(name: "PacketKitTests", dependencies: ["PacketKit", "RawSocket", "TestSupport"]),
    .testTarget(name: "RawSocketTests", dependencies: ["RawSocket", "TestSupport"]),
    .testTarget(name: "TCPScriptTests", dependencies: ["TCPScript", "TestSupport"]),
    .testTarget(name: "tcpcraftTests", dependencies: ["tcpcraft", "TestSupport"]),
  ]
)
