// ordo-one/benchmark targets: throughput and malloc counts for PacketKit's hot paths, next to
// the C references. Run inside Benchmarks/:
//   swift package --allow-writing-to-package-directory benchmark
//   swift package benchmark --filter "SYN.*"
import Benchmark
import BenchSupport
import CPlainChecksum
import CReference
import PacketKit

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.throughput, .wallClock, .mallocCountTotal],
    warmupIterations: 10,
    scalingFactor: .mega,
    maxDuration: .seconds(2),
    maxIterations: 1_000
  )

  // MARK: Checksum: one benchmark iteration = `scaledIterations` checksums.
  for size in [20, 40, 64, 576, 1500, 9000, 65535] {
    let scaling: BenchmarkScalingFactor = size >= 9000 ? .kilo : .mega
    // PacketKit (nil) and each C kernel this machine has, on the same buffer.
    let kernels: [Int32?] = [nil] + [CREF_PLAIN, CREF_C64, CREF_AVX2, CREF_AVX512, CREF_AVX512VNNI]
      .map { Int32($0.rawValue) }.filter { cref_kernel_available($0) != 0 }
    for kernel in kernels {
      let name = kernel.map { String(cString: cref_kernel_name($0)) } ?? "PacketKit"
      Benchmark("Checksum \(size) B \(name)", configuration: .init(scalingFactor: scaling)) { (benchmark: Benchmark) in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        for i in 0..<size { buffer[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
        let bytes = UnsafeRawBufferPointer(buffer)
        let count = benchmark.scaledIterations.count
        benchmark.startMeasurement()
        if let kernel {
          blackHole(CWorkload.checksum(kernel: kernel, bytes, iterations: count))
        } else {
          blackHole(SwiftWorkload.checksum(bytes, iterations: count))
        }
        benchmark.stopMeasurement()
      }
    }
  }

  // MARK: The 60-byte SYN. mallocCountTotal over a million packets must be 0 for encode.
  for viaAccessor in [false, true] {
    let name = viaAccessor ? "SYN encode PacketKit via packet.tcp accessor" : "SYN encode PacketKit (reused buffer, new seq)"
    Benchmark(name) { (benchmark: Benchmark) in
      let fixture = SYNFixture()
      var packet = fixture.packet(sequenceNumber: 1)
      var buffer: [UInt8] = []
      buffer.reserveCapacity(128)
      let count = benchmark.scaledIterations.count
      benchmark.startMeasurement()
      if viaAccessor {
        blackHole(SwiftWorkload.encodeSYNViaAccessor(&packet, buffer: &buffer, seq0: 7, iterations: count))
      } else {
        blackHole(SwiftWorkload.encodeSYN(&packet, buffer: &buffer, seq0: 7, iterations: count))
      }
      benchmark.stopMeasurement()
    }
  }
  // Exact malloc counts: scaling factor 1, one benchmark iteration = 1000 packets, so the
  // reported count is per 1000 packets with no rounding (0 means no allocation at all).
  let perThousand = Benchmark.Configuration(
    metrics: [.mallocCountTotal, .throughput], warmupIterations: 10, scalingFactor: .one,
    maxDuration: .seconds(1), maxIterations: 10_000)
  // The harness's own share (nothing but the loop) and the C fill, for comparison.
  Benchmark("Mallocs per 1000 SYNs: empty loop (harness)", configuration: perThousand) { (benchmark: Benchmark) in
    var seq: UInt32 = 0
    for _ in benchmark.scaledIterations {
      seq &+= 1000
      blackHole(seq)
    }
  }
  Benchmark("Mallocs per 1000 SYNs: C fill", configuration: perThousand) { (benchmark: Benchmark) in
    let fixture = SYNFixture()
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    defer { out.deallocate() }
    var seq: UInt32 = 0
    for _ in benchmark.scaledIterations {
      seq &+= 1000
      blackHole(CWorkload.fillSYN(fixture, buffer: out, seq0: seq, iterations: 1000))
    }
  }
  // Encode with the layer replaced in place, 1000 and 10 000 packets an iteration (a count that
  // does not grow is not per packet), and through the `packet.tcp` accessor.
  for (batch, viaAccessor) in [(1000, false), (10000, false), (1000, true)] {
    let name = "Mallocs per \(batch) SYNs: encode PacketKit" + (viaAccessor ? " via packet.tcp accessor" : "")
    Benchmark(name, configuration: perThousand) { (benchmark: Benchmark) in
      let fixture = SYNFixture()
      var packet = fixture.packet(sequenceNumber: 1)
      var buffer: [UInt8] = []
      buffer.reserveCapacity(128)
      var seq: UInt32 = 0
      for _ in benchmark.scaledIterations {
        seq &+= UInt32(batch)
        if viaAccessor {
          blackHole(SwiftWorkload.encodeSYNViaAccessor(&packet, buffer: &buffer, seq0: seq, iterations: batch))
        } else {
          blackHole(SwiftWorkload.encodeSYN(&packet, buffer: &buffer, seq0: seq, iterations: batch))
        }
      }
    }
  }
  Benchmark("Mallocs per 1000 SYNs: TCPSegmentTemplate seq", configuration: perThousand) { (benchmark: Benchmark) in
    guard var template = try? TCPSegmentTemplate(SYNFixture().packet(sequenceNumber: 1)) else { return }
    var seq: UInt32 = 0
    for _ in benchmark.scaledIterations {
      seq &+= 1000
      blackHole(SwiftWorkload.templateSequence(&template, seq0: seq, iterations: 1000))
    }
  }
  // The two parsing paths: `dissect`, and the ArraySlice views.
  let parsers: [(name: String, run: @Sendable ([UInt8], Int) -> UInt64)] = [
    ("dissect PacketKit", { SwiftWorkload.dissectSYN($0, iterations: $1) }),
    ("views PacketKit", { SwiftWorkload.parseSYNWithViews($0, iterations: $1) }),
  ]
  for parser in parsers {
    Benchmark("Mallocs per 1000 SYNs: \(parser.name)", configuration: perThousand) { (benchmark: Benchmark) in
      let bytes = SYNFixture().cBytes(sequenceNumber: 84_347_051)
      for _ in benchmark.scaledIterations {
        blackHole(parser.run(bytes, 1000))
      }
    }
  }

  Benchmark("SYN fill C hand-written") { (benchmark: Benchmark) in
    let fixture = SYNFixture()
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    defer { out.deallocate() }
    benchmark.startMeasurement()
    blackHole(CWorkload.fillSYN(fixture, buffer: out, seq0: 7, iterations: benchmark.scaledIterations.count))
    benchmark.stopMeasurement()
  }
  Benchmark("SYN seq update PacketKit TCPSegmentTemplate (RFC 1624)") { (benchmark: Benchmark) in
    let fixture = SYNFixture()
    guard var template = try? TCPSegmentTemplate(fixture.packet(sequenceNumber: 1)) else { return }
    benchmark.startMeasurement()
    blackHole(SwiftWorkload.templateSequence(&template, seq0: 7, iterations: benchmark.scaledIterations.count))
    benchmark.stopMeasurement()
  }
  Benchmark("SYN seq update C RFC 1624") { (benchmark: Benchmark) in
    let bytes = SYNFixture().cBytes(sequenceNumber: 1)
    let packet = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    defer { packet.deallocate() }
    for (i, byte) in bytes.enumerated() { packet[i] = byte }
    benchmark.startMeasurement()
    blackHole(CWorkload.incrementalSYN(packet, seq0: 7, iterations: benchmark.scaledIterations.count))
    benchmark.stopMeasurement()
  }
  for (name, parser) in [("SYN dissect PacketKit", parsers[0]), ("SYN parse PacketKit views", parsers[1])] {
    Benchmark(name) { (benchmark: Benchmark) in
      let bytes = SYNFixture().cBytes(sequenceNumber: 84_347_051)
      let count = benchmark.scaledIterations.count
      benchmark.startMeasurement()
      blackHole(parser.run(bytes, count))
      benchmark.stopMeasurement()
    }
  }
  Benchmark("SYN parse C hand-written") { (benchmark: Benchmark) in
    let bytes = SYNFixture().cBytes(sequenceNumber: 84_347_051)
    let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    defer { copy.deallocate() }
    for (i, byte) in bytes.enumerated() { copy[i] = byte }
    benchmark.startMeasurement()
    blackHole(CWorkload.parseSYN(copy, count: bytes.count, iterations: benchmark.scaledIterations.count))
    benchmark.stopMeasurement()
  }
}
