// Swift (PacketKit) vs C, timed back to back in one run: medians of interleaved repetitions,
// then ratios and the goals of issue 2 point 9. Usage (inside Benchmarks/):
//   swift run -c release ratios [--quick] [--reps N] [--ms MILLISECONDS]
import BenchSupport
import CPlainChecksum
import CReference
import Glibc
import PacketKit

// MARK: - Options

var repetitions = 21
var targetMilliseconds = 10.0
/// `--cpu-time`: time with CLOCK_THREAD_CPUTIME_ID instead of CLOCK_MONOTONIC (robust against
/// preemption on a loaded machine; not against a busy sibling hyperthread).
var clockID = CLOCK_MONOTONIC
/// `--profile NAME`: run only the SYN workloads whose names start with NAME (or, when none does, contain
/// it), for ~3 s each (for perf/valgrind).
var profileName: String?
/// `--syn-only`: skip the checksum tables (the SYN rows only: a shorter run on a busy machine).
var synOnly = false
do {
  var arguments = CommandLine.arguments.dropFirst()
  while let argument = arguments.popFirst() {
    switch argument {
    case "--quick": repetitions = 3; targetMilliseconds = 5
    case "--reps": repetitions = max(1, Int(arguments.popFirst() ?? "") ?? repetitions)
    case "--ms": targetMilliseconds = max(1, Double(arguments.popFirst() ?? "") ?? targetMilliseconds)
    case "--profile": profileName = arguments.popFirst()
    case "--cpu-time": clockID = CLOCK_THREAD_CPUTIME_ID
    case "--syn-only": synOnly = true
    default:
      print("usage: ratios [--quick] [--reps N] [--ms MILLISECONDS] [--cpu-time] [--syn-only] [--profile SYN-WORKLOAD-NAME-PART]")
      exit(2)
    }
  }
}

// MARK: - Clock and timing

@MainActor func nanoseconds() -> UInt64 {
  var ts = timespec()
  clock_gettime(clockID, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A workload: runs `iterations` operations and returns a value depending on all of them.
@MainActor struct Workload {
  var name: String
  var run: (Int) -> UInt64
  var iterations = 0
  var samples: [Double] = []  // seconds per operation

  init(_ name: String, _ run: @escaping (Int) -> UInt64) {
    self.name = name
    self.run = run
  }

  /// Doubles the count until one run takes the target time.
  mutating func calibrate() {
    var n = 1
    while true {
      let start = nanoseconds()
      keepAlive(run(n))
      let elapsed = Double(nanoseconds() - start) / 1e6
      if elapsed >= targetMilliseconds / 4 || n >= 1 << 34 {
        iterations = max(1, Int(Double(n) * targetMilliseconds / max(elapsed, 0.001)))
        return
      }
      n *= 2
    }
  }

  mutating func sample() {
    let start = nanoseconds()
    keepAlive(run(iterations))
    let elapsed = Double(nanoseconds() - start) / 1e9
    samples.append(elapsed / Double(iterations))
  }

  /// Median seconds per operation.
  var median: Double {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1
      ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
  }

  var operationsPerSecond: Double { 1 / median }

  /// How many times faster this workload is than `other`: the median over rounds of the
  /// per-round ratio (both ran back to back in each round, so machine noise mostly cancels).
  func speedup(over other: Workload) -> Double {
    let ratios = zip(samples, other.samples).map { $1 / $0 }.sorted()
    guard !ratios.isEmpty else { return .nan }
    return ratios.count % 2 == 1
      ? ratios[ratios.count / 2] : (ratios[ratios.count / 2 - 1] + ratios[ratios.count / 2]) / 2
  }
}

/// Calibrates each workload, then runs `repetitions` rounds, each round every workload once
/// in turn (so Swift and C see the same machine conditions), and keeps the medians.
@MainActor func measure(_ workloads: inout [Workload]) {
  for i in workloads.indices { workloads[i].calibrate() }
  for _ in 0..<repetitions {
    for i in workloads.indices { workloads[i].sample() }
  }
}

// MARK: - Formatting

func fixed(_ value: Double, _ digits: Int) -> String {
  guard value.isFinite else { return "n/a" }
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let rounded = (value * scale).rounded() / scale
  var text = "\(rounded)"
  if let dot = text.firstIndex(of: ".") {
    let decimals = text.distance(from: dot, to: text.endIndex) - 1
    if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
  } else if digits > 0 {
    text += "." + String(repeating: "0", count: digits)
  }
  return text
}

func row(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |" }

var goals: [(String, Bool, String)] = []

@MainActor func goal(_ description: String, _ met: Bool, _ detail: String) {
  goals.append((description, met, detail))
}

// MARK: - The machine

func firstLine(_ path: String, prefix: String) -> String? {
  guard let file = fopen(path, "r") else { return nil }
  defer { fclose(file) }
  var line = [CChar](repeating: 0, count: 4096)
  while fgets(&line, Int32(line.count), file) != nil {
    let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if text.hasPrefix(prefix) {
      return text.drop { $0 != ":" }.dropFirst().trimmingPrefixSpaces().trimmingNewline()
    }
  }
  return nil
}

extension Substring {
  func trimmingPrefixSpaces() -> Substring { drop { $0 == " " || $0 == "\t" } }
  func trimmingNewline() -> String { String(filter { $0 != "\n" }) }
}

var name = utsname()
uname(&name)
let kernelRelease = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
var load = [Double](repeating: 0, count: 3)
getloadavg(&load, 3)
print("# tcpcraft ratios: PacketKit (Swift) vs C, one run")
print("")
print("- CPU: \(firstLine("/proc/cpuinfo", prefix: "model name") ?? "?"), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) online CPUs")
print("- kernel: \(kernelRelease); load average at start: \(fixed(load[0], 2)) \(fixed(load[1], 2)) \(fixed(load[2], 2))")
print("- \(repetitions) rounds; in each round every workload runs once for ~\(Int(targetMilliseconds)) ms, back to back; \(clockID == CLOCK_MONOTONIC ? "CLOCK_MONOTONIC" : "CLOCK_THREAD_CPUTIME_ID"). Rates are medians; ratios are medians of the per-round ratios.")
print("")

// MARK: - Correctness first: every kernel and PacketKit agree with the plain loop

var generator = SystemRandomNumberGenerator()
let maximumSize = 65535
let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: maximumSize + 64, alignment: 64)
defer { arena.deallocate() }
for i in 0..<arena.count { arena[i] = UInt8.random(in: 0...255, using: &generator) }

let kernels = (0..<Int32(CREF_KERNEL_COUNT.rawValue)).filter { cref_kernel_available($0) != 0 }
var mismatches = 0
for length in Array(0...2048) + [9000, 65535] {
  for offset in (length <= 2048 ? [0, 1, 2, 3] : [0, 1]) {
    let buffer = UnsafeRawBufferPointer(rebasing: arena[offset..<(offset + length)])
    let expected = plain_checksum(buffer.baseAddress, length)
    var swiftSum = InternetChecksum()
    swiftSum.add(buffer)
    if swiftSum.partialSum != expected { mismatches += 1 }
    for kernel in kernels where cref_checksum(kernel, buffer.baseAddress, length) != expected {
      mismatches += 1
      if mismatches < 10 { print("MISMATCH \(String(cString: cref_kernel_name(kernel))) length \(length) offset \(offset)") }
    }
  }
}
// All-ones and all-zero buffers (the carry edge cases).
for fill: UInt8 in [0x00, 0xFF] {
  let special = [UInt8](repeating: fill, count: 70000)
  special.withUnsafeBytes { all in
    for length in [1, 2, 20, 63, 64, 65, 255, 256, 257, 1500, 65535, 70000] {
      let buffer = UnsafeRawBufferPointer(rebasing: all[0..<length])
      let expected = plain_checksum(buffer.baseAddress, length)
      var swiftSum = InternetChecksum()
      swiftSum.add(buffer)
      if swiftSum.partialSum != expected { mismatches += 1 }
      for kernel in kernels where cref_checksum(kernel, buffer.baseAddress, length) != expected { mismatches += 1 }
    }
  }
}
print("Checksum check: PacketKit and \(kernels.count) C kernels vs the plain RFC 1071 loop, lengths 0...2048 at 4 alignments, 9000, 65535, all-0 and all-1 buffers: \(mismatches == 0 ? "all equal" : "\(mismatches) MISMATCHES")")
if mismatches != 0 { exit(1) }

// MARK: - Checksum GB/s

print("")
print("## Internet checksum, GB/s (buffer 64-byte aligned, in cache)")
print("")
let sizes = [20, 40, 64, 576, 1500, 9000, 65535]
let cNames = kernels.map { String(cString: cref_kernel_name($0)) }
let packetKitKernels: [(String, InternetChecksumKernel)] = [
  ("PacketKit scalar kernel", .scalar), ("PacketKit AVX2 kernel", .avx2), ("PacketKit AVX-512 kernel", .avx512),
].filter { $0.1.isAvailable }
print(row(["bytes", "PacketKit `InternetChecksum.add`"] + cNames + ["best C", "PacketKit / plain C", "PacketKit / best C"] + packetKitKernels.map(\.0)))
print(row(Array(repeating: "---", count: 5 + cNames.count + packetKitKernels.count)))
var checksumSummary: [(size: Int, swift: Double, overPlain: Double, overBest: Double, bestName: String)] = []
for size in (profileName == nil && !synOnly ? sizes : []) {
  let buffer = UnsafeRawBufferPointer(rebasing: arena[0..<size])
  var workloads = [Workload("PacketKit") { SwiftWorkload.checksum(buffer, iterations: $0) }]
  for kernel in kernels {
    workloads.append(Workload(String(cString: cref_kernel_name(kernel))) { CWorkload.checksum(kernel: kernel, buffer, iterations: $0) })
  }
  for (label, kernel) in packetKitKernels {
    workloads.append(Workload(label) { SwiftWorkload.checksum(kernel: kernel, buffer, iterations: $0) })
  }
  measure(&workloads)
  let gbps = workloads.map { Double(size) * $0.operationsPerSecond / 1e9 }
  let swift = gbps[0]
  let cValues = Array(gbps[1...kernels.count])
  let bestIndex = cValues.indices.max { cValues[$0] < cValues[$1] } ?? 0
  let best = cValues[bestIndex]
  let overPlain = workloads[0].speedup(over: workloads[1])
  let overBest = workloads[0].speedup(over: workloads[1 + bestIndex])
  checksumSummary.append((size, swift, overPlain, overBest, cNames[bestIndex]))
  print(row(
    ["\(size)", fixed(swift, 2)] + cValues.map { fixed($0, 2) }
      + ["\(fixed(best, 2)) (\(cNames[bestIndex]))", fixed(overPlain, 2) + "×", fixed(overBest, 2) + "×"]
      + gbps[(1 + kernels.count)...].map { fixed($0, 2) }))
  fflush(nil)
}
for entry in checksumSummary {
  if entry.size >= 1500 {
    goal("checksum \(entry.size) B ≥ 0.9× best C", entry.overBest >= 0.9,
         "\(fixed(entry.overBest, 3))× \(entry.bestName) (PacketKit \(fixed(entry.swift, 1)) GB/s)")
  }
  if entry.size <= 60 {
    goal("checksum \(entry.size) B ≥ 1.0× plain C loop", entry.overPlain >= 1.0,
         "\(fixed(entry.overPlain, 3))× (PacketKit \(fixed(entry.swift, 1)) GB/s)")
  }
}

// MARK: - The 60-byte SYN

print("")
print("## The 60-byte SYN (IPv4 + TCP, MSS, SACK-permitted, timestamps, NOP, window scale), a new seq each time")
print("")
let fixture = SYNFixture()
let fixture6 = SYN6Fixture()
var packet6 = fixture6.packet(sequenceNumber: 0)
var buffer6: [UInt8] = []
buffer6.reserveCapacity(128)
var packet = fixture.packet(sequenceNumber: 0)
var buffer: [UInt8] = []
buffer.reserveCapacity(128)
let checkSeq: UInt32 = 84_347_051
var synCheckFailures: [String] = []
do {
  let swiftBytes = try fixture.packet(sequenceNumber: checkSeq).encoded()
  let cBytes = fixture.cBytes(sequenceNumber: checkSeq)
  if swiftBytes != cBytes { synCheckFailures.append("Packet.encode differs from the C fill") }
  var template = try TCPSegmentTemplate(fixture.packet(sequenceNumber: 1))
  template.sequenceNumber = checkSeq
  if template.bytes != cBytes { synCheckFailures.append("TCPSegmentTemplate differs from the C fill") }
  var cIncremental = fixture.cBytes(sequenceNumber: 1)
  cref_syn_set_seq_incremental(&cIncremental, checkSeq)
  if cIncremental != cBytes { synCheckFailures.append("C incremental differs from the C fill") }
  var cTemplated = [UInt8](repeating: 0, count: 60)
  let cTemplate = fixture.cBytes(sequenceNumber: 1)
  cref_syn_from_template(&cTemplated, cTemplate, checkSeq)
  if cTemplated != cBytes { synCheckFailures.append("C template differs from the C fill") }
  var fields = cref_syn_fields()
  if cref_syn_parse(cBytes, cBytes.count, &fields) != 0 || fields.tcp_checksum_ok == 0 || fields.ipv4_checksum_ok == 0
    || fields.seq != checkSeq || fields.mss != fixture.mss
  {
    synCheckFailures.append("C parser disagrees")
  }
  let dissection = dissect(swiftBytes, linkType: .ipv4)
  if dissection.isMalformed || dissection.layers.count != 2 { synCheckFailures.append("dissect found problems: \(dissection.problems)") }
  if SwiftWorkload.parseOnce(swiftBytes[...]) == 0 { synCheckFailures.append("views failed to parse") }
  if SwiftWorkload.parseOnce(swiftBytes.span.bytes) != SwiftWorkload.parseOnce(swiftBytes[...]) {
    synCheckFailures.append("span views disagree with the ArraySlice views")
  }
  // The IPv6 SYN: PacketKit's encoding = the C fill; dissect, the C parser read it back.
  let swift6 = try fixture6.packet(sequenceNumber: checkSeq).encoded()
  let c6 = fixture6.cBytes(sequenceNumber: checkSeq)
  if swift6 != c6 { synCheckFailures.append("IPv6 Packet.encode differs from the C fill") }
  var fields6 = cref_syn_fields()
  if cref_syn6_parse(c6, c6.count, &fields6) != 0 || fields6.tcp_checksum_ok == 0 || fields6.seq != checkSeq {
    synCheckFailures.append("C IPv6 parser disagrees")
  }
  let dissection6 = dissect(swift6, linkType: .ipv6)
  if dissection6.isMalformed || dissection6.layers.count != 2 { synCheckFailures.append("IPv6 dissect found problems: \(dissection6.problems)") }
  print("Byte check: PacketKit encode, TCPSegmentTemplate, C fill, C template and C incremental give the same 60 bytes; dissect/views/C parser read them back: \(synCheckFailures.isEmpty ? "yes" : synCheckFailures.joined(separator: "; "))")
  print("")
  print("SYN bytes: " + cBytes.map { byte in let h = String(byte, radix: 16); return h.count == 1 ? "0" + h : h }.joined())
  print("")
} catch {
  print("encode failed: \(error)")
  exit(1)
}
if !synCheckFailures.isEmpty { exit(1) }

let synBytes = fixture.cBytes(sequenceNumber: checkSeq)
var template: TCPSegmentTemplate
do { template = try TCPSegmentTemplate(fixture.packet(sequenceNumber: 1)) } catch { exit(1) }
let cOut = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
let cTemplateBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
let cIncrementalBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
let cParseBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
let syn6Bytes = fixture6.cBytes(sequenceNumber: checkSeq)
let cOut6 = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
let cParse6Bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
for (i, byte) in syn6Bytes.enumerated() { cParse6Bytes[i] = byte }
for (i, byte) in synBytes.enumerated() {
  cTemplateBytes[i] = byte
  cIncrementalBytes[i] = byte
  cParseBytes[i] = byte
}
var seq: UInt32 = 1
var synWorkloads = [
  Workload("PacketKit `packet.encode(into:)`, TCP layer replaced in place") {
    seq &+= 1_000_003
    return SwiftWorkload.encodeSYN(&packet, buffer: &buffer, seq0: seq, iterations: $0)
  },
  Workload("PacketKit `packet.tcp?.sequenceNumber = seq` + `encode(into:)`") {
    seq &+= 1_000_003
    return SwiftWorkload.encodeSYNViaAccessor(&packet, buffer: &buffer, seq0: seq, iterations: $0)
  },
  Workload("C hand-written fill of every byte + both checksums") {
    seq &+= 1_000_003
    return CWorkload.fillSYN(fixture, buffer: cOut, seq0: seq, iterations: $0)
  },
  Workload("C from a template (memcpy, seq, TCP checksum)") {
    seq &+= 1_000_003
    return CWorkload.templateSYN(cTemplateBytes, buffer: cOut, seq0: seq, iterations: $0)
  },
  Workload("PacketKit `TCPSegmentTemplate.sequenceNumber = seq` (RFC 1624)") {
    seq &+= 1_000_003
    return SwiftWorkload.templateSequence(&template, seq0: seq, iterations: $0)
  },
  Workload("C RFC 1624 update of seq") {
    seq &+= 1_000_003
    return CWorkload.incrementalSYN(cIncrementalBytes, seq0: seq, iterations: $0)
  },
  Workload("PacketKit `dissect(_:linkType: .ipv4)` (checksums verified)") {
    SwiftWorkload.dissectSYN(synBytes, iterations: $0)
  },
  Workload("PacketKit span views: IPv4SpanView + TCPSpanView + options + both checksums") {
    SwiftWorkload.parseSYNWithSpanViews(synBytes, iterations: $0)
  },
  Workload("C hand-written parse: lengths, options, both checksums") {
    CWorkload.parseSYN(cParseBytes, count: synBytes.count, iterations: $0)
  },
  // Diagnosis rows (no goals): the first encode row's two parts.
  Workload("diagnosis: `packet.layers[1] = .tcp(tcp)` alone (no encode)") {
    seq &+= 1_000_003
    return SwiftWorkload.replaceTCPLayer(&packet, seq0: seq, iterations: $0)
  },
  Workload("diagnosis: `ip.encode(tcp, into:)` (no Packet, no layer rebuild)") {
    seq &+= 1_000_003
    return SwiftWorkload.encodeSYNDirect(packet, buffer: &buffer, seq0: seq, iterations: $0)
  },
  Workload("diagnosis: the ArraySlice views (IPv4View + TCPView), same work") {
    SwiftWorkload.parseSYNWithViews(synBytes, iterations: $0)
  },
  // Issue 14: the IPv6 SYN (80 bytes) against its own C reference.
  Workload("IPv6: PacketKit `packet.encode(into:)`, TCP layer replaced in place") {
    seq &+= 1_000_003
    return SwiftWorkload.encodeSYN6(&packet6, buffer: &buffer6, seq0: seq, iterations: $0)
  },
  Workload("IPv6: C hand-written fill of every byte + TCP checksum") {
    seq &+= 1_000_003
    return CWorkload.fillSYN6(fixture6, buffer: cOut6, seq0: seq, iterations: $0)
  },
  Workload("IPv6: PacketKit `dissect(_:linkType: .ipv6)` (checksum verified)") {
    SwiftWorkload.dissectSYN(syn6Bytes, linkType: .ipv6, iterations: $0)
  },
  Workload("IPv6: C hand-written parse: lengths, options, TCP checksum") {
    CWorkload.parseSYN6(cParse6Bytes, count: syn6Bytes.count, iterations: $0)
  },
  Workload("PacketKit `dissectLayers(span, linkType: .ipv4)` (the layers only, no `Dissection`)") {
    SwiftWorkload.dissectSYNLayers(synBytes, iterations: $0)
  },
]
if let profileName {
  // Names that start with NAME win over names that merely contain it (so that "PacketKit `packet.encode"
  // picks the IPv4 row, not also "IPv6: PacketKit `packet.encode...").
  let prefixed = synWorkloads.contains { $0.name.hasPrefix(profileName) }
  for var workload in synWorkloads where prefixed ? workload.name.hasPrefix(profileName) : workload.name.contains(profileName) {
    print("profiling \(workload.name) for ~3 s")
    targetMilliseconds = 3000
    workload.calibrate()
    workload.sample()
    print("\(fixed(workload.operationsPerSecond / 1e6, 2)) M/s")
  }
  exit(0)
}
measure(&synWorkloads)
let rates = synWorkloads.map { $0.operationsPerSecond }
print(row(["workload", "M/s", "ns each", "ratio", "goal"]))
print(row(["---", "---", "---", "---", "---"]))
let encodeRatio = synWorkloads[0].speedup(over: synWorkloads[2])
let accessorRatio = synWorkloads[1].speedup(over: synWorkloads[2])
let templateRatio = synWorkloads[4].speedup(over: synWorkloads[5])
let dissectRatio = synWorkloads[6].speedup(over: synWorkloads[8])
let viewsRatio = synWorkloads[7].speedup(over: synWorkloads[8])
let sliceViewsRatio = synWorkloads[11].speedup(over: synWorkloads[8])
let encode6Ratio = synWorkloads[12].speedup(over: synWorkloads[13])
let dissect6Ratio = synWorkloads[14].speedup(over: synWorkloads[15])
let layersRatio = synWorkloads[16].speedup(over: synWorkloads[8])
let ratioText: [String] = [
  "\(fixed(encodeRatio, 2))× C fill", "\(fixed(accessorRatio, 2))× C fill", "1.00", "\(fixed(synWorkloads[3].speedup(over: synWorkloads[2]), 2))× C fill",
  "\(fixed(templateRatio, 2))× C RFC 1624", "1.00", "\(fixed(dissectRatio, 2))× C parse",
  "\(fixed(viewsRatio, 2))× C parse", "1.00",
  "\(fixed(synWorkloads[9].speedup(over: synWorkloads[2]), 2))× C fill",
  "\(fixed(synWorkloads[10].speedup(over: synWorkloads[2]), 2))× C fill",
  "\(fixed(sliceViewsRatio, 2))× C parse",
  "\(fixed(encode6Ratio, 2))× C IPv6 fill", "1.00", "\(fixed(dissect6Ratio, 2))× C IPv6 parse", "1.00",
  "\(fixed(layersRatio, 2))× C parse",
]
let goalText = [
  "≥ 0.5× C fill", "", "", "", "≥ 100 M/s", "", "≥ 0.6× C parse, ≥ 20 M/s", "≥ 0.8× C parse", "", "", "", "",
  "IPv4's ratio ± 10%", "", "IPv4's ratio ± 10%", "", "",
]
for (i, workload) in synWorkloads.enumerated() {
  print(row([workload.name, fixed(rates[i] / 1e6, 1), fixed(workload.median * 1e9, 1), ratioText[i], goalText[i]]))
}
goal("encode SYN ≥ 0.5× C fill", encodeRatio >= 0.5,
     "\(fixed(rates[0] / 1e6, 1)) vs \(fixed(rates[2] / 1e6, 1)) M/s = \(fixed(encodeRatio, 2))×")
goal("RFC 1624 seq update ≥ 100 M/s", rates[4] >= 100e6, "\(fixed(rates[4] / 1e6, 1)) M/s (C: \(fixed(rates[5] / 1e6, 1)) M/s)")
goal("dissect SYN ≥ 0.6× C parse (issue 13)", dissectRatio >= 0.6, "\(fixed(dissectRatio, 2))×")
goal("dissect's layers over a span ≥ 0.6× C parse (no goal of its own; for comparison)", layersRatio >= 0.6,
     "\(fixed(layersRatio, 2))×")
goal("span views ≥ 0.8× C parse (issue 13)", viewsRatio >= 0.8,
     "\(fixed(viewsRatio, 2))× (the ArraySlice views: \(fixed(sliceViewsRatio, 2))×)")
goal("IPv6 encode ratio within 10% of IPv4's (issue 14)", abs(encode6Ratio / encodeRatio - 1) <= 0.1,
     "IPv6 \(fixed(encode6Ratio, 2))× C IPv6 fill vs IPv4 \(fixed(encodeRatio, 2))× C fill (\(fixed(encode6Ratio / encodeRatio, 2)))")
goal("IPv6 dissect ratio within 10% of IPv4's (issue 14)", abs(dissect6Ratio / dissectRatio - 1) <= 0.1,
     "IPv6 \(fixed(dissect6Ratio, 2))× C IPv6 parse vs IPv4 \(fixed(dissectRatio, 2))× C parse (\(fixed(dissect6Ratio / dissectRatio, 2)))")
goal("dissect SYN ≥ 20 M/s", rates[6] >= 20e6, "`dissect`: \(fixed(rates[6] / 1e6, 1)) M/s; views: \(fixed(rates[7] / 1e6, 1)) M/s (C parse: \(fixed(rates[8] / 1e6, 1)) M/s)")

// MARK: - Goals

print("")
print("## Goals (issue 2, point 9)")
print("")
print(row(["goal", "met?", "measured"]))
print(row(["---", "---", "---"]))
for (description, met, detail) in goals {
  print(row([description, met ? "met" : "**missed**", detail]))
}
getloadavg(&load, 3)
print("")
print("Load average at the end: \(fixed(load[0], 2)) \(fixed(load[1], 2)) \(fixed(load[2], 2)). The machine is shared: compare ratios within this run, not absolute figures across runs.")
