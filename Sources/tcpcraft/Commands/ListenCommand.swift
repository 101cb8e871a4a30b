import Foundation
import PacketKit
import RawSocket
import TCPScript

/// `tcpcraft listen [HOST:]PORT`: the server side by hand, with every option `handshake` has, so
/// that one terminal plays the client (`handshake`/`fin`) and another the server.
enum ListenCommand: Command {
  static let spec = CommandSpec(
    name: "listen",
    summary: "the server side by hand: answer a client's SYN, serve, close",
    synopsis: ["[HOST:]PORT [options]"],
    about: """
      The server side by hand: no kernel socket listens; we wait for a client's SYN, answer with a
      hand-built SYN+ACK (with handshake's options: MSS, window scale, timestamps, SACK), take the
      ACK, optionally send --data, then wait for the client to close and finish the close
      (CLOSE-WAIT, LAST-ACK). With timestamps on both SYNs every later segment carries one.
      HOST defaults to 127.0.0.1; [ADDR]:PORT listens over IPv6 ([::1]:PORT, or [::]:PORT for every
      IPv6 address). The kernel's own RSTs from this port are guarded while we serve.
      """,
    options: [
      OptionGroup([
        .integer("--isn", UInt32.self, "N", "our initial sequence number (default: random)"),
        .integer("--window", UInt16.self, "N", "the window on our SYN+ACK, and later unless --ack-window (default 65535)"),
        .integer("--ack-window", UInt16.self, "N", "the window on every segment after our SYN+ACK (a scaled window)"),
        .string("--data", "TEXT", "send TEXT once the connection is established (\\r, \\n, \\t as the characters)"),
        .seconds("--timeout", "bounds each wait: for the SYN, the ACK, the client's FIN (default 30)"),
        .string("--iface", "NAME", "capture on this interface (default: the one the route to HOST uses)"),
        Common.pcapOption,
      ]),
      OptionGroup("TCP options in our SYN+ACK (as handshake takes them; TSecr echoes the client):", Common.synOptionTable),
      OptionGroup(
        "how the server behaves:",
        [
          .toggle("--window-update", "after the handshake, one bare ACK announcing our window (seed 001's server does)"),
          .toggle("--half-close", "send --data only after the client's FIN: a half-close (CLOSE-WAIT, still sending)"),
          .toggle("--close-now", "answer the client's FIN with FIN+ACK in one segment (a merged close)"),
          .seconds("--close-delay", "send our FIN this long after acknowledging the client's (what comes meanwhile is shown)"),
          .toggle(
            "--close-after-update",
            "with --close-delay: count it from the client's window update after its FIN (fin --window-update), not from our ACK"),
        ]),
      Common.outputOptions,
    ],
    examples: [
      "sudo tcpcraft listen 9000 --data 'hello from tcpcraft' &",
      #"python3 -c 'import socket; s=socket.create_connection(("127.0.0.1",9000)); print(s.recv(99)); s.close()'"#,
      "sudo tcpcraft listen [::1]:9000 --data 'hello over IPv6' &",
      """
      sudo tcpcraft listen 8080 --isn 2958367133 --window 65535 --ack-window 12759 --mss 16344 \\
          --wscale 5 --timestamps --tsval 1525310591 --sack-perm --window-update --close-delay 0.007 \\
          --close-after-update
      """,
    ])

  static func run(_ arguments: Arguments) -> Int32 {
    let local: HostPort
    do throws(UsageError) {
      local = try arguments.target(command: "listen", missing: "listen: missing [HOST:]PORT", defaultHost: .loopback, allowIPv6: true)
      if let name = arguments.value("--iface"), NetworkInterfaces.index(named: name) == nil {
        throw UsageError("listen: --iface: no interface named \"\(name)\" (see `ip link`)")
      }
      if arguments.has("--half-close") && arguments.value("--data") == nil {
        throw UsageError("listen: --half-close sends --data after the client's FIN; give --data TEXT too")
      }
      if arguments.has("--close-after-update") && !arguments.has("--close-delay") {
        throw UsageError("listen: --close-after-update times --close-delay from the client's window update; give --close-delay SECONDS too")
      }
      let closes = ["--half-close", "--close-now", "--close-delay"].filter { arguments.has($0) }
      if closes.count > 1 {
        throw UsageError("listen: \(closes.joined(separator: " and ")) are different closes; pick one")
      }
    } catch {
      Terminal.error("tcpcraft: \(error.description)")
      return 2
    }
    let timeout = arguments.seconds("--timeout") ?? .seconds(30)
    let closeDelay = arguments.seconds("--close-delay")
    let output = Output(arguments)
    var flow: Flow?
    do throws(ScriptError) {
      let opened = try Flow.listening(on: local.endpoint, interface: arguments.value("--iface"))
      flow = opened
      if let isn = arguments.integer("--isn", as: UInt32.self) { opened.initialSendSequence = isn }
      if let window = arguments.integer("--window", as: UInt16.self) { opened.window = window }
      opened.windowAfterSYN = arguments.integer("--ack-window", as: UInt16.self)
      if let tsval = arguments.integer("--tsval", as: UInt32.self) {
        opened.timestampOffset = tsval &- Flow.millisecondClock()
      }
      opened.onEntry = { [output] entry in output.segment(entry, transcript: opened.transcript) }
      output.say("listening by hand on \(local) for \(ScriptError.format(timeout)) (no kernel socket; the kernel's RSTs from this port are guarded)")
      // The SYN+ACK's options, its TSval from our clock when --timestamps has no --tsval (the
      // flow echoes the client's TSval in TSecr).
      let options = Common.synOptions(arguments, timestamp: opened.currentTimestamp)
      try opened.passiveOpen(options: options, timeout: timeout)
      output.say("ESTABLISHED with \(opened.remote)")
      if arguments.has("--window-update") {
        // A bare ACK that only announces the window (macOS sends one after the handshake; seed 001).
        try opened.send(.ack, step: "listen: sending a window update")
      }
      // As `data` takes it: a \r, \n or \t in TEXT is sent as the character (an HTTP reply needs them).
      let data = arguments.value("--data").map { Array(DataCommand.unescape($0).utf8) }
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
        if arguments.has("--close-after-update") {
          // Two processes playing both ends cannot promise which comes first, our FIN `delay`
          // after the ACK or the client's window update: wait for the update, then the delay.
          try opened.expect(
            .flags(.ack, seq: opened.receiveNext, ack: opened.sendNext), within: timeout,
            step: "listen: waiting for the client's window update")
        }
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
      return Common.reportFailure(error, flow: flow, arguments: arguments, output: output, command: "listen")
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
