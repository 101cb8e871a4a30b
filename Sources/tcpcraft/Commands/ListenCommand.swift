import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft listen [HOST:]PORT`: the server side by hand, with every option `handshake` has, so
/// that one terminal plays the client (`handshake`/`fin`) and another the server.
enum ListenCommand {
  static let valued: Set<String> = Set<String>([
    "--isn", "--window", "--ack-window", "--mss", "--wscale", "--tsval", "--timeout", "--data", "--pcap", "--iface", "--close-delay",
  ]).union(Common.outputValued)
  static let switches: Set<String> = Common.outputSwitches.union([
    "--sack-perm", "--timestamps", "--window-update", "--half-close", "--close-now",
  ])

  static func run(_ argv: [String]) -> Int32 {
    let arguments: Arguments
    let local: HostPort
    let timeout: Duration
    let isn: UInt32?
    let window: UInt16?
    let ackWindow: UInt16?
    let closeDelay: Duration?
    do throws(UsageError) {
      arguments = try Arguments(argv, command: "listen", valued: valued, switches: switches)
      if arguments.wantsHelp { Terminal.out(Help.listen); return 0 }
      local = try arguments.target(command: "listen", missing: "listen: missing [HOST:]PORT", defaultHost: 0x7F00_0001)
      timeout = try arguments.seconds("--timeout") ?? .seconds(30)
      isn = try arguments.integer("--isn", as: UInt32.self)
      window = try arguments.integer("--window", as: UInt16.self)
      ackWindow = try arguments.integer("--ack-window", as: UInt16.self)
      closeDelay = try arguments.seconds("--close-delay")
      if closeDelay != nil && (arguments.has("--half-close") || arguments.has("--close-now")) {
        throw UsageError("listen: --close-delay is for the plain close; not with --half-close or --close-now")
      }
      _ = try Common.synOptions(arguments)
      if arguments.has("--half-close") && arguments.value("--data") == nil {
        throw UsageError("listen: --half-close sends --data after the client's FIN; give --data TEXT too")
      }
      if arguments.has("--half-close") && arguments.has("--close-now") {
        throw UsageError("listen: --half-close and --close-now are two different closes; pick one")
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let output = Output(arguments)
    var flow: Flow?
    do throws(ScriptError) {
      let opened = try Flow.listening(on: Endpoint(address: local.address, port: local.port), interface: arguments.value("--iface"))
      flow = opened
      if let isn { opened.initialSendSequence = isn }
      if let window { opened.window = window }
      opened.windowAfterSYN = ackWindow
      if let tsval = try? arguments.integer("--tsval", as: UInt32.self) {
        opened.timestampOffset = tsval &- Flow.millisecondClock()
      }
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      output.say("listening by hand on \(local) for \(ScriptError.format(timeout)) (no kernel socket; the kernel's RSTs from this port are guarded)")
      // The SYN+ACK's options, its TSval from our clock when --timestamps has no --tsval (the
      // flow echoes the client's TSval in TSecr).
      let options = (try? Common.synOptions(arguments, timestamp: opened.currentTimestamp)) ?? []
      try opened.passiveOpen(options: options, timeout: timeout)
      output.say("ESTABLISHED with \(opened.remote)")
      if arguments.has("--window-update") {
        // A bare ACK that only announces the window (macOS sends one after the handshake; seed 001).
        try opened.send(.ack, step: "listen: sending a window update")
      }
      let data = arguments.value("--data").map { Array($0.utf8) }
      if arguments.has("--half-close"), let data {
        // Half-close: wait for the client's FIN, acknowledge it, and keep sending (CLOSE-WAIT).
        try waitForFIN(opened, timeout: timeout)
        try opened.sendData(data, timeout: .seconds(3))
        try opened.passiveClose(timeout: timeout)
      } else if arguments.has("--close-now") {
        // Merged close: our FIN goes with the ACK of the client's FIN (FIN+ACK in one segment).
        if let data { try opened.sendData(data, timeout: .seconds(3)) }
        try waitForFIN(opened, timeout: timeout, acknowledge: false)
        try opened.send([.fin, .ack], step: "listen: FIN merged with the ACK of the client's FIN")
        try opened.expect(.acknowledging(opened.sendNext, what: "the ACK of our FIN"), within: timeout, step: "listen: waiting for the last ACK")
      } else if let delay = closeDelay {
        // Our application closes `delay` after the client's FIN: segments meanwhile are shown.
        if let data { try opened.sendData(data, timeout: .seconds(3)) }
        try waitForFIN(opened, timeout: timeout)
        try opened.receiveAll(for: delay)
        opened.clearUnmatched()
        try opened.send([.fin, .ack], step: "listen: sending our FIN")
        try opened.expect(.acknowledging(opened.sendNext, what: "the ACK of our FIN"), within: timeout, step: "listen: waiting for the last ACK")
      } else {
        if let data { try opened.sendData(data, timeout: .seconds(3)) }
        try opened.passiveClose(timeout: timeout)
      }
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

  /// Waits for the client's FIN (acknowledging any data before it), then acknowledges the FIN
  /// unless `acknowledge` is false. Bounded: at most 64 segments before the FIN.
  static func waitForFIN(_ flow: Flow, timeout: Duration, acknowledge: Bool = true) throws(ScriptError) {
    let pattern = SegmentPattern.nextFromPeer("the client's FIN")
    var segment = try flow.expect(pattern, within: timeout, step: "listen: waiting for the client's FIN")
    for _ in 0..<64 where !segment.flags.contains(.fin) {
      if !segment.payload.isEmpty { try flow.send(.ack, step: "listen: acknowledging data") }
      segment = try flow.expect(pattern, within: timeout, step: "listen: waiting for the client's FIN")
    }
    guard segment.flags.contains(.fin) else {
      throw .timedOut(step: "listen", expected: SegmentPattern.fin.description, waited: timeout, unmatched: [])
    }
    if acknowledge { try flow.send(.ack, step: "listen: acknowledging the client's FIN") }
  }
}
