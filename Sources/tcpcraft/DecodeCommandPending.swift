// Temporary stand-in until pk-format's DecodeCommand.swift is merged (then this file goes).
enum DecodeCommand {
  static func run(_ arguments: [String]) -> Int32 {
    Terminal.error("tcpcraft: decode is not built into this version yet")
    return 2
  }
}
