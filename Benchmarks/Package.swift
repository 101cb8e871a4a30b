// swift-tools-version: 6.1
// Benchmarks for tcpcraft: a separate package so that the root package keeps no dependencies.
// Run inside Benchmarks/:
//   swift run -c release ratios                                         Swift vs C ratios, one table
//   swift package --allow-writing-to-package-directory benchmark        ordo-one: throughput, mallocs
//   ./peers.sh                                                          tcpcraft vs hping3/trafgen/tcpdump/scapy
import PackageDescription

let package = Package(
  name: "tcpcraft-benchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "tcpcraft", path: "../"),
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    // The plain RFC 1071 16-bit loop, compiled -O2 as written: the "scalar C loop" reference.
    .target(name: "CPlainChecksum", cSettings: [.unsafeFlags(["-O2"])]),
    // The best C this machine allows (64-bit add-with-carry, AVX2, AVX-VNNI, AVX-512, AVX-512 VNNI;
    // per-function target attributes, no -march), the hand-written SYN fill/template/incremental
    // code and a hand-written SYN parser, plus the C loops that time them.
    .target(name: "CReference", dependencies: ["CPlainChecksum"], cSettings: [.unsafeFlags(["-O3"])]),
    // Workloads shared by `ratios` and the ordo-one benchmarks (the SYN, the buffers).
    .target(
      name: "BenchSupport",
      dependencies: [
        "CReference", "CPlainChecksum",
        .product(name: "PacketKit", package: "tcpcraft"),
      ]),
    // One run, one table: Swift (PacketKit) vs C back to back, medians, ratios, goals.
    .executableTarget(
      name: "ratios",
      dependencies: ["BenchSupport", "CReference", .product(name: "PacketKit", package: "tcpcraft")]),
    // The plain C raw-socket sender peers.sh compares tcpcraft with (sendto / sendmmsg loops).
    .executableTarget(name: "c-sender", cSettings: [.unsafeFlags(["-O2"])]),
    // ordo-one/benchmark: throughput and malloc counts.
    .executableTarget(
      name: "PacketKitBenchmarks",
      dependencies: [
        "BenchSupport", "CReference",
        .product(name: "PacketKit", package: "tcpcraft"),
        .product(name: "Benchmark", package: "benchmark"),
      ],
      path: "Benchmarks/PacketKitBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
  ]
)
