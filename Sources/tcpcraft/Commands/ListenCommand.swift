import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft listen [HOST:]PORT`: the server side by hand.
enum ListenCommand: Command {
  static let spec = CommandSpec(
    name: "listen",
    summary: "the server side by hand: answer a client's SYN, serve, close",
    synopsis: ["[HOST:]PORT [options]"],
    about: """
      The server side by hand: no kernel socket listens; we wait for a client's SYN, answer with a
      hand-built SYN+ACK, take the ACK, optionally send --data, then wait for the client to close
      and finish the close (CLOSE_WAIT, LAST_ACK). HOST defaults to 127.0.0.1. The kernel's own
      RSTs from this port are guarded while we serve.
      """,
    options: [
      OptionGroup([
        .integer("--isn", UInt32.self, "N", "our initial sequence number (default: random)"),
        .integer("--window", UInt16.self, "N", "the window we advertise (default 65535)"),
        .string("--data", "TEXT", "send TEXT once the connection is established"),
        .seconds("--timeout", "bounds each wait: for the SYN, the ACK, the client's FIN (default 30)"),
        .string("--iface", "NAME", "capture on this interface (default: the one the route to HOST uses)"),
        Common.pcapOption,
      ]),
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft listen 9000 --data 'hello from tcpcraft' &",
      #"python3 -c 'import socket; s=socket.create_connection(("127.0.0.1",9000)); print(s.recv(99)); s.close()'"#,
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    let local: HostPort
    do throws(UsageError) {
      local = try arguments.target(command: "listen", missing: "listen: missing [HOST:]PORT", defaultHost: 0x7F00_0001)
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(30)
    let output = Output(arguments)
    var flow: Flow?
    do throws(ScriptError) {
      let opened = try Flow.listening(on: Endpoint(address: local.address, port: local.port), interface: arguments.value("--iface"))
      flow = opened
      if let isn = arguments.integer("--isn", as: UInt32.self) { opened.initialSendSequence = isn }
      if let window = arguments.integer("--window", as: UInt16.self) { opened.window = window }
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

