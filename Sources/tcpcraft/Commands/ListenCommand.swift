import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft listen [HOST:]PORT`: the server side by hand.
enum ListenCommand {
  static let valued: Set<String> = Set<String>(["--isn", "--window", "--timeout", "--data", "--pcap", "--iface"]).union(Common.outputValued)
  static let switches: Set<String> = Common.outputSwitches

  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    let local: HostPort
    let timeout: Duration
    do throws(UsageError) {
      arguments = try Arguments(argv, command: "listen", valued: valued, switches: switches)
      if arguments.wantsHelp { Terminal.out(Help.listen); return 0 }
      local = try arguments.target(command: "listen", missing: "listen: missing [HOST:]PORT", defaultHost: 0x7F00_0001)
      timeout = try arguments.seconds("--timeout") ?? .seconds(30)
      _ = try arguments.integer("--isn", as: UInt32.self)
      _ = try arguments.integer("--window", as: UInt16.self)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let output = Output(arguments)
    var flow: Flow?
    do throws(ScriptError) {
      let opened = try Flow.listening(on: Endpoint(address: local.address, port: local.port), interface: arguments.value("--iface"))
      flow = opened
      if let isn = try? arguments.integer("--isn", as: UInt32.self) { opened.initialSendSequence = isn }
      if let window = try? arguments.integer("--window", as: UInt16.self) { opened.window = window }
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      output.say("listening by hand on \(local) for \(ScriptError.format(timeout)) (no kernel socket; the kernel's RSTs from this port are guarded)")
      try opened.passiveOpen(timeout: timeout)
      output.say("ESTABLISHED with \(opened.remote)")
      if let text = arguments.value("--data") {
        try opened.sendData(Array(text.utf8), timeout: .seconds(3))
      }
      try opened.passiveClose(timeout: timeout)
      if let path = arguments.value("--pcap") { try Common.writePcap(opened, to: path) }
      output.drawLadder(opened)
      let received = opened.receivedData
      output.result(
        ok: true, command: "listen", flow: opened,
        message: "served \(opened.remote): received \(received.count) bytes \(String(decoding: received, as: UTF8.self).debugDescription); closed (\(opened.state))")
      opened.close()
      return 0
    } catch {
      if let flow {
        if let path = arguments.value("--pcap") { try? Common.writePcap(flow, to: path) }
        output.drawLadder(flow)
      }
      return Common.report(error, output: output, command: "listen", flow: flow)
    }
  }
}

