import CRawSocket

/// Opcode parts of classic BPF (`<linux/filter.h>`, `<linux/bpf_common.h>`): an instruction's
/// `code` is a class, plus a size and mode for loads, an operation and source for ALU and jumps.
public enum BPFOpcode {
  // Classes.
  /// Load into the accumulator A. The corresponding C constant is `BPF_LD`.
  public static let load: UInt16 = 0x00
  /// Load into the index register X. The corresponding C constant is `BPF_LDX`.
  public static let loadIndex: UInt16 = 0x01
  /// Store A into scratch memory. The corresponding C constant is `BPF_ST`.
  public static let store: UInt16 = 0x02
  /// Store X into scratch memory. The corresponding C constant is `BPF_STX`.
  public static let storeIndex: UInt16 = 0x03
  /// Arithmetic on A. The corresponding C constant is `BPF_ALU`.
  public static let alu: UInt16 = 0x04
  /// Jumps. The corresponding C constant is `BPF_JMP`.
  public static let jump: UInt16 = 0x05
  /// Return: accept that many bytes (0 = drop). The corresponding C constant is `BPF_RET`.
  public static let `return`: UInt16 = 0x06
  /// Register transfers. The corresponding C constant is `BPF_MISC`.
  public static let misc: UInt16 = 0x07

  // Load sizes.
  /// 32 bits, big-endian. The corresponding C constant is `BPF_W`.
  public static let word: UInt16 = 0x00
  /// 16 bits, big-endian. The corresponding C constant is `BPF_H`.
  public static let halfword: UInt16 = 0x08
  /// 8 bits. The corresponding C constant is `BPF_B`.
  public static let byte: UInt16 = 0x10

  // Load modes.
  /// The constant `k`. The corresponding C constant is `BPF_IMM`.
  public static let immediate: UInt16 = 0x00
  /// The packet at offset `k`. The corresponding C constant is `BPF_ABS`.
  public static let absolute: UInt16 = 0x20
  /// The packet at offset `X + k`. The corresponding C constant is `BPF_IND`.
  public static let indirect: UInt16 = 0x40
  /// Scratch memory word `k`. The corresponding C constant is `BPF_MEM`.
  public static let memory: UInt16 = 0x60
  /// The packet's length. The corresponding C constant is `BPF_LEN`.
  public static let length: UInt16 = 0x80
  /// `4 * (packet[k] & 0xf)`: an IPv4 header length, into X. The corresponding C constant is `BPF_MSH`.
  public static let ipv4HeaderLength: UInt16 = 0xa0

  // ALU operations.
  /// A + operand. The corresponding C constant is `BPF_ADD`.
  public static let add: UInt16 = 0x00
  /// A - operand. The corresponding C constant is `BPF_SUB`.
  public static let subtract: UInt16 = 0x10
  /// A * operand. The corresponding C constant is `BPF_MUL`.
  public static let multiply: UInt16 = 0x20
  /// A / operand (0 drops the packet). The corresponding C constant is `BPF_DIV`.
  public static let divide: UInt16 = 0x30
  /// A | operand. The corresponding C constant is `BPF_OR`.
  public static let or: UInt16 = 0x40
  /// A & operand. The corresponding C constant is `BPF_AND`.
  public static let and: UInt16 = 0x50
  /// A << operand. The corresponding C constant is `BPF_LSH`.
  public static let shiftLeft: UInt16 = 0x60
  /// A >> operand. The corresponding C constant is `BPF_RSH`.
  public static let shiftRight: UInt16 = 0x70
  /// -A. The corresponding C constant is `BPF_NEG`.
  public static let negate: UInt16 = 0x80
  /// A % operand (0 drops the packet). The corresponding C constant is `BPF_MOD`.
  public static let modulo: UInt16 = 0x90
  /// A ^ operand. The corresponding C constant is `BPF_XOR`.
  public static let xor: UInt16 = 0xa0

  // Jump conditions.
  /// Unconditional, by `k`. The corresponding C constant is `BPF_JA`.
  public static let always: UInt16 = 0x00
  /// `A == operand`. The corresponding C constant is `BPF_JEQ`.
  public static let equal: UInt16 = 0x10
  /// `A > operand`. The corresponding C constant is `BPF_JGT`.
  public static let greater: UInt16 = 0x20
  /// `A >= operand`. The corresponding C constant is `BPF_JGE`.
  public static let greaterOrEqual: UInt16 = 0x30
  /// `A & operand != 0`. The corresponding C constant is `BPF_JSET`.
  public static let anySet: UInt16 = 0x40

  // Operand sources (ALU, jumps) and return values.
  /// The constant `k`. The corresponding C constant is `BPF_K`.
  public static let constant: UInt16 = 0x00
  /// The index register X. The corresponding C constant is `BPF_X`.
  public static let indexRegister: UInt16 = 0x08
  /// Return the accumulator. The corresponding C constant is `BPF_A`.
  public static let accumulator: UInt16 = 0x10

  // Misc.
  /// X = A. The corresponding C constant is `BPF_TAX`.
  public static let transferToIndex: UInt16 = 0x00
  /// A = X. The corresponding C constant is `BPF_TXA`.
  public static let transferToAccumulator: UInt16 = 0x80
}

/// One classic BPF instruction (`struct sock_filter`): 8 bytes.
public struct BPFInstruction: Hashable, Sendable, CustomStringConvertible {
  /// Class, size/mode or operation/source bits (`BPFOpcode`).
  public var code: UInt16
  /// For conditional jumps: instructions to skip when true.
  public var jumpIfTrue: UInt8
  /// For conditional jumps: instructions to skip when false.
  public var jumpIfFalse: UInt8
  /// The constant operand: an offset, a value, a jump distance, a return length.
  public var k: UInt32

  public init(code: UInt16, jumpIfTrue: UInt8 = 0, jumpIfFalse: UInt8 = 0, k: UInt32 = 0) {
    self.code = code
    self.jumpIfTrue = jumpIfTrue
    self.jumpIfFalse = jumpIfFalse
    self.k = k
  }

  /// `ld{,h,b} [k]`: A = packet bytes at offset `k` (size: `BPFOpcode.word/halfword/byte`).
  public static func load(size: UInt16, absolute offset: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.load | size | BPFOpcode.absolute, k: offset)
  }
  /// `ld{,h,b} [x + k]`: A = packet bytes at offset X + `k`.
  public static func load(size: UInt16, indirect offset: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.load | size | BPFOpcode.indirect, k: offset)
  }
  /// `ld #k`: A = `value`.
  public static func load(immediate value: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.load | BPFOpcode.immediate, k: value)
  }
  /// `ld len`: A = the packet's length on the wire.
  public static var loadLength: BPFInstruction {
    BPFInstruction(code: BPFOpcode.load | BPFOpcode.word | BPFOpcode.length)
  }
  /// `ldxb 4*([k]&0xf)`: X = the IPv4 header length in bytes, read from the IHL at `offset`.
  public static func loadIPv4HeaderLength(at offset: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.loadIndex | BPFOpcode.byte | BPFOpcode.ipv4HeaderLength, k: offset)
  }
  /// `and #k`, `or #k`, ...: A = A op `value` (op: `BPFOpcode.and`, `.or`, `.add`, ...).
  public static func alu(_ operation: UInt16, _ value: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.alu | operation | BPFOpcode.constant, k: value)
  }
  /// `jeq/jgt/jge/jset #k, jt, jf` (condition: `BPFOpcode.equal`, ...): relative skips.
  public static func jump(
    _ condition: UInt16, _ value: UInt32, ifTrue: UInt8, ifFalse: UInt8
  ) -> BPFInstruction {
    BPFInstruction(
      code: BPFOpcode.jump | condition | BPFOpcode.constant, jumpIfTrue: ifTrue,
      jumpIfFalse: ifFalse, k: value)
  }
  /// `ja k`: skip `distance` instructions.
  public static func jump(always distance: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.jump | BPFOpcode.always, k: distance)
  }
  /// `ret #k`: accept the first `length` bytes (0 drops the packet).
  public static func `return`(_ length: UInt32) -> BPFInstruction {
    BPFInstruction(code: BPFOpcode.return | BPFOpcode.constant, k: length)
  }

  /// The instruction in `tcpdump -d` notation, e.g. `ldh [12]` or `jeq #0x800 jt 2 jf 5`
  /// (jump targets relative: `+1`).
  public var description: String {
    let cls = code & 0x07
    let size = code & 0x18
    let mode = code & 0xe0
    let suffix = size == BPFOpcode.halfword ? "h" : size == BPFOpcode.byte ? "b" : ""
    let hexK = "#0x" + String(k, radix: 16)
    switch cls {
    case BPFOpcode.load:
      switch mode {
      case BPFOpcode.immediate: return "ld #\(k)"
      case BPFOpcode.absolute: return "ld\(suffix) [\(k)]"
      case BPFOpcode.indirect: return "ld\(suffix) [x + \(k)]"
      case BPFOpcode.memory: return "ld M[\(k)]"
      case BPFOpcode.length: return "ld #pktlen"
      default: return "unknown 0x\(String(code, radix: 16))"
      }
    case BPFOpcode.loadIndex:
      switch mode {
      case BPFOpcode.immediate: return "ldx #\(k)"
      case BPFOpcode.memory: return "ldx M[\(k)]"
      case BPFOpcode.length: return "ldx #pktlen"
      case BPFOpcode.ipv4HeaderLength: return "ldxb 4*([\(k)]&0xf)"
      default: return "unknown 0x\(String(code, radix: 16))"
      }
    case BPFOpcode.store: return "st M[\(k)]"
    case BPFOpcode.storeIndex: return "stx M[\(k)]"
    case BPFOpcode.alu:
      let names: [UInt16: String] = [
        0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
        0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xa0: "xor",
      ]
      let name = names[code & 0xf0] ?? "alu?"
      if code & 0xf0 == BPFOpcode.negate { return name }
      return code & 0x08 == BPFOpcode.indexRegister ? "\(name) x" : "\(name) \(hexK)"
    case BPFOpcode.jump:
      let op = code & 0xf0
      if op == BPFOpcode.always { return "ja +\(k)" }
      let names: [UInt16: String] = [0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset"]
      let operand = code & 0x08 == BPFOpcode.indexRegister ? "x" : hexK
      return "\(names[op] ?? "j?") \(operand) jt +\(jumpIfTrue) jf +\(jumpIfFalse)"
    case BPFOpcode.return:
      switch code & 0x18 {
      case BPFOpcode.accumulator: return "ret a"
      case BPFOpcode.indexRegister: return "ret x"
      default: return "ret #\(k)"
      }
    default:
      return code & 0xf8 == BPFOpcode.transferToAccumulator ? "txa" : "tax"
    }
  }
}

/// A classic BPF program (`struct sock_fprog`), run by the kernel on every packet before it is
/// queued to a socket: the return value is how many bytes to keep, 0 to drop.
public struct BPFProgram: Hashable, Sendable, CustomStringConvertible {
  /// The kernel's limit on a program's length (`BPF_MAXINSNS`).
  public static let maximumLength = 4096
  /// The snapshot length tcpdump keeps (and our filters return on a match): 262144 bytes.
  public static let defaultSnapshotLength: UInt32 = 262_144

  public var instructions: [BPFInstruction]

  public init(_ instructions: [BPFInstruction]) { self.instructions = instructions }

  /// A program that keeps every packet (up to `defaultSnapshotLength` bytes).
  public static var acceptAll: BPFProgram { BPFProgram([.return(defaultSnapshotLength)]) }
  /// A program that drops every packet.
  public static var rejectAll: BPFProgram { BPFProgram([.return(0)]) }

  /// One instruction a line, numbered like `tcpdump -d`, jumps shown as absolute targets.
  public var description: String {
    instructions.enumerated().map { index, instruction in
      let number = String(index)
      let padded = String(repeating: "0", count: max(0, 3 - number.count)) + number
      var text = instruction.description
      if instruction.code & 0x07 == BPFOpcode.jump {
        if instruction.code & 0xf0 == BPFOpcode.always {
          text = "ja \(index + 1 + Int(instruction.k))"
        } else {
          let head = text.split(separator: " ").prefix(2).joined(separator: " ")
          text = head + " jt \(index + 1 + Int(instruction.jumpIfTrue))"
            + " jf \(index + 1 + Int(instruction.jumpIfFalse))"
        }
      }
      return "(\(padded)) \(text)"
    }.joined(separator: "\n")
  }

  /// Checks what the kernel's `bpf_check_classic` checks that we can see: 1…4096 instructions,
  /// every jump lands inside the program, scratch memory indices below 16, the last instruction
  /// is `ret #k` or `ret a`.
  ///
  /// - Returns: `nil` when the program is acceptable, else the reason.
  public func validationProblem() -> String? {
    guard !instructions.isEmpty else { return "empty program" }
    guard instructions.count <= Self.maximumLength else {
      return "\(instructions.count) instructions, more than the kernel's \(Self.maximumLength)"
    }
    for (index, instruction) in instructions.enumerated() {
      let cls = instruction.code & 0x07
      let remaining = instructions.count - index - 1
      if cls == BPFOpcode.jump {
        if instruction.code & 0xf0 == BPFOpcode.always {
          if remaining == 0 || Int(instruction.k) > remaining - 1 {
            return "instruction \(index): jump beyond the end"
          }
        } else if remaining == 0 || Int(instruction.jumpIfTrue) > remaining - 1
          || Int(instruction.jumpIfFalse) > remaining - 1
        {
          return "instruction \(index): jump beyond the end"
        }
      }
      let usesMemory =
        ((cls == BPFOpcode.load || cls == BPFOpcode.loadIndex) && instruction.code & 0xe0 == BPFOpcode.memory)
        || cls == BPFOpcode.store || cls == BPFOpcode.storeIndex
      if usesMemory && instruction.k >= 16 { return "instruction \(index): scratch memory index \(instruction.k)" }
    }
    // The kernel wants `ret #k` or `ret a` last (not `ret x`).
    if let last = instructions.last,
      last.code != BPFOpcode.return | BPFOpcode.constant, last.code != BPFOpcode.return | BPFOpcode.accumulator
    {
      return "the last instruction is not 'ret #k' or 'ret a'"
    }
    return nil
  }

  /// Runs the program in user space with the kernel's semantics (a load outside the packet, or a
  /// division by zero, drops it), for tests and for filtering frames read from a file.
  ///
  /// - Parameters:
  ///   - packet: the frame as the kernel would see it (link header first).
  ///   - wireLength: the packet's length (`ld #pktlen`); defaults to `packet.count`.
  /// - Returns: the number of bytes to keep; 0 means drop. An invalid program returns 0.
  public func run(on packet: some Collection<UInt8>, wireLength: Int? = nil) -> UInt32 {
    guard validationProblem() == nil else { return 0 }
    let bytes = Array(packet)
    let length = UInt32(truncatingIfNeeded: wireLength ?? bytes.count)
    var a: UInt32 = 0
    var x: UInt32 = 0
    var memory = [UInt32](repeating: 0, count: 16)
    var pc = 0
    var steps = 0
    func fetch(_ offset: UInt64, _ size: Int) -> UInt32? {
      guard offset + UInt64(size) <= UInt64(bytes.count) else { return nil }
      var value: UInt32 = 0
      for index in 0..<size { value = value << 8 | UInt32(bytes[Int(offset) + index]) }
      return value
    }
    while pc < instructions.count, steps <= Self.maximumLength {
      steps += 1
      let instruction = instructions[pc]
      pc += 1
      let k = instruction.k
      let size = instruction.code & 0x18 == BPFOpcode.halfword ? 2 : instruction.code & 0x18 == BPFOpcode.byte ? 1 : 4
      switch instruction.code & 0x07 {
      case BPFOpcode.load:
        switch instruction.code & 0xe0 {
        case BPFOpcode.immediate: a = k
        case BPFOpcode.absolute:
          guard let value = fetch(UInt64(k), size) else { return 0 }
          a = value
        case BPFOpcode.indirect:
          guard let value = fetch(UInt64(k) + UInt64(x), size) else { return 0 }
          a = value
        case BPFOpcode.memory: a = memory[Int(k & 15)]
        case BPFOpcode.length: a = length
        default: return 0
        }
      case BPFOpcode.loadIndex:
        switch instruction.code & 0xe0 {
        case BPFOpcode.immediate: x = k
        case BPFOpcode.memory: x = memory[Int(k & 15)]
        case BPFOpcode.length: x = length
        case BPFOpcode.ipv4HeaderLength:
          guard let value = fetch(UInt64(k), 1) else { return 0 }
          x = 4 * (value & 0x0f)
        default: return 0
        }
      case BPFOpcode.store: memory[Int(k & 15)] = a
      case BPFOpcode.storeIndex: memory[Int(k & 15)] = x
      case BPFOpcode.alu:
        let operand = instruction.code & 0x08 == BPFOpcode.indexRegister ? x : k
        switch instruction.code & 0xf0 {
        case BPFOpcode.add: a = a &+ operand
        case BPFOpcode.subtract: a = a &- operand
        case BPFOpcode.multiply: a = a &* operand
        case BPFOpcode.divide:
          guard operand != 0 else { return 0 }
          a /= operand
        case BPFOpcode.modulo:
          guard operand != 0 else { return 0 }
          a %= operand
        case BPFOpcode.or: a |= operand
        case BPFOpcode.and: a &= operand
        case BPFOpcode.xor: a ^= operand
        case BPFOpcode.shiftLeft: a = operand >= 32 ? 0 : a << operand
        case BPFOpcode.shiftRight: a = operand >= 32 ? 0 : a >> operand
        case BPFOpcode.negate: a = 0 &- a
        default: return 0
        }
      case BPFOpcode.jump:
        let operand = instruction.code & 0x08 == BPFOpcode.indexRegister ? x : k
        let taken: Bool
        switch instruction.code & 0xf0 {
        case BPFOpcode.always:
          pc += Int(k)
          continue
        case BPFOpcode.equal: taken = a == operand
        case BPFOpcode.greater: taken = a > operand
        case BPFOpcode.greaterOrEqual: taken = a >= operand
        case BPFOpcode.anySet: taken = a & operand != 0
        default: return 0
        }
        pc += Int(taken ? instruction.jumpIfTrue : instruction.jumpIfFalse)
      case BPFOpcode.return:
        switch instruction.code & 0x18 {
        case BPFOpcode.accumulator: return a
        case BPFOpcode.indexRegister: return x
        default: return k
        }
      default:
        if instruction.code & 0xf8 == BPFOpcode.transferToAccumulator { a = x } else { x = a }
      }
    }
    return 0
  }
}
