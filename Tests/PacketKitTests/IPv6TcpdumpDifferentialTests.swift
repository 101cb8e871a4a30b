import Foundation
import Testing
import TestSupport
@testable import PacketKit

/// Every captured-length cut of every IPv6 fixture (original length kept, as a snap length does),
/// printed by tcpdump and by PacketKit: the same lines.
@Suite struct IPv6TcpdumpDifferentialTests {
  @Test(.enabled(if: FormatTools.path("tcpdump") != nil, "needs tcpdump"))
  func truncationsPrintAsTcpdump() throws {
    var records: [PcapRecord] = []
    for name in ipv6Fixtures.keys.sorted() {
      guard let bytes = ipv6Fixtures[name] else { continue }
      for length in 1...bytes.count {
        records.append(PcapRecord(data: Array(bytes[..<length])))
      }
    }
    let path = try FormatTools.writeTemporary(PcapWriter.file(linkType: .raw, records: records), suffix: ".pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    #expect(output.status == 0)
    #expect(output.lines.count == records.count)
    var mismatches: [String] = []
    for (record, line) in zip(records, output.lines) {
      let ours = tcpdumpSummary(record.data[...], linkType: .raw)
      if ours != line { mismatches.append("cut \(record.data.count)/\(record.originalLength):\n  tcpdump: \(line)\n  ours:    \(ours)") }
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) of \(records.count) differ:\n\(mismatches.prefix(40).joined(separator: "\n"))")
  }
}
