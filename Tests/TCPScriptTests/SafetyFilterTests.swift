import PacketKit
import TCPScript
import Testing

/// Issue 11: a flat filter of 80,000 `or` terms overflowed the stack in the BPF emitter
/// (SIGSEGV). Now the parser refuses chains that could never fit a BPF program, and the emitter
/// refuses trees too deep to walk, each with a clear error.
@Suite struct SafetyFilterTests {
  @Test func eightyThousandTermsAreRefusedWithAClearError() {
    let text = (1...80_000).map { "port \($0 % 65_000 + 1)" }.joined(separator: " or ")
    do {
      _ = try CaptureFilter(parsing: text)
      Issue.record("80,000 terms parsed")
    } catch {
      #expect(error.description.contains("more than 2048 terms"))
    }
  }

  @Test func aTreeTooDeepToWalkIsRefusedNotCrashed() {
    // Built in code, past the parser: 3000 nested `or`s.
    var filter = CaptureFilter.port(1)
    for port in 2...3000 { filter = .or(filter, .port(UInt16(port))) }
    #expect(throws: CaptureFilterError.self) { _ = try filter.compile() }
  }

  @Test func ordinaryChainsStillCompile() throws {
    let text = (1...20).map { "port \($0)" }.joined(separator: " or ")
    let program = try CaptureFilter(parsing: text).compile()
    #expect(program.instructions.count > 20)
  }
}
