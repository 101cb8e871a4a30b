// The BPF types: encoding of instructions, validation, and the user-space interpreter, checked
// against frames written by hand.
import Testing
import RawSocket

@Suite("Classic BPF instructions and programs")
struct BPFTests {
  // 127.0.0.1.30000 > 127.0.0.1.80: Flags [S], seq 1, win 65535, length 0 (Ethernet on lo)
  static let synFrame: [UInt8] =
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00]
    + [0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
       0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01]
    + [0x75, 0x30, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
       0x50, 0x02, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00]

  @Test func opcodesMatchLinuxFilterH() {
    // Values from <linux/bpf_common.h>, written out by hand.
    #expect(BPFInstruction.load(size: BPFOpcode.halfword, absolute: 12).code == 0x28)
    #expect(BPFInstruction.load(size: BPFOpcode.byte, absolute: 23).code == 0x30)
    #expect(BPFInstruction.load(size: BPFOpcode.word, absolute: 26).code == 0x20)
    #expect(BPFInstruction.loadIPv4HeaderLength(at: 14).code == 0xb1)
    #expect(BPFInstruction.load(size: BPFOpcode.halfword, indirect: 14).code == 0x48)
    #expect(BPFInstruction.jump(BPFOpcode.equal, 0, ifTrue: 0, ifFalse: 0).code == 0x15)
    #expect(BPFInstruction.jump(BPFOpcode.anySet, 0, ifTrue: 0, ifFalse: 0).code == 0x45)
    #expect(BPFInstruction.alu(BPFOpcode.and, 0xf0).code == 0x54)
    #expect(BPFInstruction.return(0).code == 0x06)
    #expect(BPFInstruction.jump(always: 3).code == 0x05)
  }

  @Test func interpreterRunsThePortFilter() {
    let filter = TestNet.tcpPortFilter(80)
    #expect(filter.validationProblem() == nil)
    #expect(filter.run(on: Self.synFrame) == 262_144)
    #expect(TestNet.tcpPortFilter(30000).run(on: Self.synFrame) == 262_144)
    #expect(TestNet.tcpPortFilter(81).run(on: Self.synFrame) == 0)
    var udp = Self.synFrame
    udp[23] = 17
    #expect(filter.run(on: udp) == 0)
    // Truncated frames: a load past the end drops the packet, never traps.
    // The destination port ends at byte 38: shorter prefixes fail a load, longer ones match.
    for length in 0..<Self.synFrame.count {
      #expect(filter.run(on: Self.synFrame.prefix(length)) == (length >= 38 ? 262_144 : 0), "length \(length)")
    }
  }

  @Test func validationCatchesWhatTheKernelRefuses() {
    #expect(BPFProgram([]).validationProblem() != nil)
    #expect(BPFProgram([.load(immediate: 1)]).validationProblem() != nil)
    #expect(BPFProgram([BPFInstruction(code: BPFOpcode.return | BPFOpcode.indexRegister)]).validationProblem() != nil)
    #expect(BPFProgram([BPFInstruction(code: BPFOpcode.return | BPFOpcode.accumulator)]).validationProblem() == nil)
    #expect(BPFProgram([.jump(BPFOpcode.equal, 1, ifTrue: 5, ifFalse: 0), .return(0)]).validationProblem() != nil)
    #expect(BPFProgram([.jump(always: 1), .return(0)]).validationProblem() != nil)
    #expect(BPFProgram([BPFInstruction(code: BPFOpcode.store, k: 16), .return(0)]).validationProblem() != nil)
    #expect(BPFProgram(Array(repeating: .return(0), count: 4097)).validationProblem() != nil)
    #expect(BPFProgram.acceptAll.validationProblem() == nil)
    #expect(BPFProgram.acceptAll.run(on: [UInt8]()) == 262_144)
    #expect(BPFProgram.rejectAll.run(on: Self.synFrame) == 0)
  }

  @Test func listingLooksLikeTcpdumpMinusD() {
    let listing = TestNet.tcpPortFilter(80).description.split(separator: "\n").map(String.init)
    #expect(listing.first == "(000) ldh [12]")
    #expect(listing[1] == "(001) jeq #0x800 jt 2 jf 10")
    #expect(listing[4] == "(004) ldxb 4*([14]&0xf)")
    #expect(listing[5] == "(005) ldh [x + 14]")
    #expect(listing.last == "(010) ret #0")
  }
}
