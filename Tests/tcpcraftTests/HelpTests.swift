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
    // "kernel fact N" in a help text names an entry of docs/kernel-facts.md.
    let entries = try KernelFactCitationTests.entries()
    for spec in TCPCraft.specs {
      for number in KernelFactCitationTests.citations(in: Help.text(for: spec)) {
        #expect(entries.contains(number), "\(spec.name)'s help cites kernel fact \(number)")
      }
    }
  }
}

/// Every "kernel fact N" cited in the tree's sources, tests and docs is entry N of
/// `docs/kernel-facts.md`.
@Suite struct KernelFactCitationTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The entry numbers of docs/kernel-facts.md (its "## N." headings).
  static func entries() throws -> Set<Int> {
    let facts = try String(contentsOf: root.appendingPathComponent("docs/kernel-facts.md"), encoding: .utf8)
    return Set(
      facts.split(separator: "\n").compactMap { line -> Int? in
        guard line.hasPrefix("## ") else { return nil }
        return Int(line.dropFirst(3).prefix { $0.isNumber })
      })
  }

  /// The fact numbers `text` cites: "kernel fact N" and "kernel facts N, M and P", in any case,
  /// also when a line break (and a comment's `//`, `///`, `#` or `*`) falls inside the words.
  static func citations(in text: String) -> [Int] {
    // One line: comment markers at the start of each continued line go, words are single-spaced.
    var flat = ""
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "/" || $0 == "#" || $0 == "*" }
      flat += " " + trimmed
    }
    let words = flat.lowercased().split { $0 == " " || $0 == "\t" }
    var numbers: [Int] = []
    var index = 0
    while index + 2 < words.count {
      defer { index += 1 }
      guard words[index].hasSuffix("kernel"), words[index + 1] == "fact" || words[index + 1] == "facts" else { continue }
      // The numbers that follow: "1,", "2", "and", "24)" ...; stop at the first other word.
      var next = index + 2
      while next < words.count {
        let word = words[next]
        if word == "and" || word == "or" { next += 1; continue }
        let digits = word.drop { $0 == "(" }.prefix { $0.isNumber }
        guard let number = Int(digits) else { break }
        numbers.append(number)
        // A number followed by more than a comma ends the list ("24)", "7:", "10.").
        let rest = word.drop { $0 == "(" }.dropFirst(digits.count)
        if !(rest.isEmpty || rest == ",") { break }
        next += 1
      }
    }
    return numbers
  }

  @Test func citationsAreReadAcrossLinesAndLists() {
    #expect(Self.citations(in: "the kernel fact 7 and kernel facts 1, 2 and 24") == [7, 1, 2, 24])
    #expect(Self.citations(in: "(Kernel fact 29)") == [29])
    #expect(Self.citations(in: "IPV6_HDRINCL: kernel fact\n/// 18), an capture") == [18])
    #expect(Self.citations(in: "# see the kernel\n# fact 10.") == [10])
    #expect(Self.citations(in: "kernel facts and more, fact 3").isEmpty)
  }

  @Test func everyCitationHasAnEntry() throws {
    let entries = try Self.entries()
    // Numbered 1...N with no gap (N grows as facts are added).
    #expect(entries == Set(1...max(1, entries.max() ?? 1)))
    #expect(entries.count >= 17)
    var citations = 0
    var paths: [String] = ["README.md"]
    for folder in ["Sources", "Tests", "docs", "examples", "Benchmarks"] {
      let enumerator = FileManager.default.enumerator(atPath: Self.root.appendingPathComponent(folder).path)
      while let name = enumerator?.nextObject() as? String {
        guard [".swift", ".md", ".sh", ".py"].contains(where: { name.hasSuffix($0) }), !name.contains(".build") else { continue }
        paths.append(folder + "/" + name)
      }
    }
    for path in paths {
      guard let text = try? String(contentsOfFile: Self.root.appendingPathComponent(path).path, encoding: .utf8) else { continue }
      for number in Self.citations(in: text) {
        citations += 1
        #expect(entries.contains(number), "\(path) cites kernel fact \(number)")
      }
    }
    #expect(citations > 10)
  }
}
