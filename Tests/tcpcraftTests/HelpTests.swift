import Foundation
import Testing

@testable import tcpcraft

/// `--help` is generated from each command's option table: every command has the same sections,
/// every option is described, and the main help lists every command.
@Suite struct HelpTests {
  static let names = TCPCraft.specs.map(\.name)

  @Test(arguments: names)
  func everyCommandHasUsageOptionsAndExamples(name: String) throws {
    let spec = try #require(TCPCraft.command(named: name)?.spec)
    let text = Help.text(for: spec)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines.first?.hasPrefix("usage: tcpcraft \(name) ") == true)
    let options = try #require(lines.firstIndex(of: "options:"), "\(name): no options header")
    let examples = try #require(lines.firstIndex(of: "examples:"), "\(name): no examples header")
    #expect(options < examples, "\(name): options come before examples")
    #expect(!spec.examples.isEmpty)
    #expect(spec.examples.contains { $0.contains("tcpcraft \(name)") }, "\(name): no example runs it")
    // Every option: its spellings on a line between the headers, with a description.
    let optionSection = lines[(options + 1)..<examples]
    for option in spec.allOptions {
      #expect(!option.summary.isEmpty, "\(name) \(option.name): no description")
      #expect(option.kind == .toggle ? option.placeholder.isEmpty : !option.placeholder.isEmpty)
      let line = optionSection.first { $0.hasPrefix("  ") && $0.contains(option.name) && (option.placeholder.isEmpty || $0.contains(option.placeholder)) }
      #expect(line != nil, "\(name): \(option.name) is not listed under options:")
      for alias in option.aliases { #expect(line?.contains(alias) == true) }
    }
    // No spelling is declared twice.
    let spellings = spec.allOptions.flatMap(\.spellings)
    #expect(Set(spellings).count == spellings.count, "\(name): a spelling is declared twice")
    #expect(!spellings.contains("--help") && !spellings.contains("-h"))
    #expect(spellings.allSatisfy { $0.hasPrefix("-") && $0.count > 1 })
  }

  @Test func mainHelpListsEveryCommandOnce() {
    let text = Help.main
    for spec in TCPCraft.specs {
      let lines = text.split(separator: "\n").filter { $0.hasPrefix("  \(spec.name) ") }
      #expect(lines.count == 1, "\(spec.name)")
      #expect(lines.first?.hasSuffix(spec.summary) == true)
    }
  }

  @Test func optionLinesAlignOrWrap() {
    let short = Help.optionLines(.integer("--sport", UInt16.self, "N", "our source port"))
    #expect(short == ["  --sport N             our source port"])
    let long = Help.optionLines(.seconds("--checksum-not-ready-for-long", "wraps"))
    #expect(long.count == 2)
    #expect(long[1] == String(repeating: " ", count: Help.descriptionColumn) + "wraps")
    let alias = Help.optionLines(.string("--iface", aliases: ["-i"], "NAME", "the interface"))
    #expect(alias == ["  -i, --iface NAME      the interface"])
  }

  @Test func kernelFactCitationsResolve() throws {
    // "kernel fact N" in a help text names a fact of docs/kernel-facts.md (1 to 16).
    for spec in TCPCraft.specs {
      let text = Help.text(for: spec)
      var rest = Substring(text)
      while let range = rest.range(of: "kernel fact ") {
        let digits = rest[range.upperBound...].prefix { $0.isNumber }
        let number = try #require(Int(digits), "\(spec.name): \"kernel fact\" without a number")
        #expect((1...17).contains(number))
        rest = rest[range.upperBound...]
      }
    }
  }
}

/// Every "kernel fact N" cited in the tree's sources, tests and docs is entry N of
/// `docs/kernel-facts.md`.
@Suite struct KernelFactCitationTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test func everyCitationHasAnEntry() throws {
    let facts = try String(contentsOf: Self.root.appendingPathComponent("docs/kernel-facts.md"), encoding: .utf8)
    let entries = Set(
      facts.split(separator: "\n").compactMap { line -> Int? in
        guard line.hasPrefix("## ") else { return nil }
        return Int(line.dropFirst(3).prefix { $0.isNumber })
      })
    // Numbered 1...N with no gap (N grows as facts are added).
    #expect(entries == Set(1...max(1, entries.max() ?? 1)))
    #expect(entries.count >= 17)
    var citations = 0
    for folder in ["Sources", "Tests", "docs"] {
      let enumerator = FileManager.default.enumerator(atPath: Self.root.appendingPathComponent(folder).path)
      while let name = enumerator?.nextObject() as? String {
        guard name.hasSuffix(".swift") || name.hasSuffix(".md") else { continue }
        let path = Self.root.appendingPathComponent(folder).appendingPathComponent(name).path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
        var rest = Substring(text)
        while let range = rest.range(of: "kernel fact ") {
          let digits = rest[range.upperBound...].prefix { $0.isNumber }
          rest = rest[range.upperBound...]
          guard let number = Int(digits) else { continue }
          citations += 1
          #expect(entries.contains(number), "\(folder)/\(name) cites kernel fact \(number)")
        }
      }
    }
    #expect(citations > 10)
  }
}
