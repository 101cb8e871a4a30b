import PacketKit

/// The classic exchanges, each a few lines a teacher can read next to the RFC's figures.
extension Flow {
  /// Active open, the 3-way handshake (RFC 9293 §3.5, Figure 6):
  /// SYN → SYN+ACK → ACK, through SYN-SENT to ESTABLISHED.
  ///
  /// - Throws: `.reset(portClosed: true)` when nothing listens (the peer's kernel answers RST),
  ///   `.timedOut` when no SYN+ACK comes.
  public func activeOpen(options: [TCPOption] = [], timeout: Duration? = nil) throws(ScriptError) {
    guard state == .closed || state == .listen else { throw .invalidState(step: "handshake", state: state) }
    try send(.syn, options: options, step: "handshake: sending SYN")
    try expect(.synAcknowledging(sendNext), within: timeout, step: "handshake: waiting for SYN+ACK")
    try send(.ack, step: "handshake: sending ACK")
  }

  /// Simultaneous open (RFC 9293 §3.5, Figure 8): our SYN and the peer's cross. We send SYN
  /// (SYN-SENT), the peer's SYN arrives (SYN-RECEIVED), we answer it with SYN+ACK (our SYN again,
  /// now acknowledging theirs), and the peer's SYN+ACK acknowledges ours (ESTABLISHED). The peer
  /// must be connecting to our port from the port we send to, at the same time.
  public func simultaneousOpen(options: [TCPOption] = [], timeout: Duration? = nil) throws(ScriptError) {
    guard state == .closed else { throw .invalidState(step: "simultaneous open", state: state) }
    try send(.syn, options: options, step: "simultaneous open: sending SYN")
    try expect(.syn, within: timeout, step: "simultaneous open: waiting for the peer's SYN")
    try send([.syn, .ack], seq: initialSendSequence, options: options, step: "simultaneous open: sending SYN+ACK")
    if state == .synReceived {
      try expect(
        .acknowledging(sendNext, what: "the peer's SYN+ACK or ACK of our SYN").orSYNACK(sendNext), within: timeout,
        step: "simultaneous open: waiting for the ACK of our SYN")
    }
  }

  /// Passive open (RFC 9293 §3.5): LISTEN, wait for a client's SYN, answer with a hand-built
  /// SYN+ACK, and wait for the ACK that completes the handshake (SYN-RECEIVED → ESTABLISHED).
  public func passiveOpen(options: [TCPOption] = [], timeout: Duration? = nil) throws(ScriptError) {
    if state == .closed { listen() }
    guard state == .listen else { throw .invalidState(step: "listen", state: state) }
    try expect(.syn, within: timeout, step: "listen: waiting for a client's SYN")
    try send([.syn, .ack], seq: initialSendSequence, options: options, step: "listen: sending SYN+ACK")
    try expect(.acknowledging(sendNext, what: "the ACK of our SYN"), within: timeout, step: "listen: waiting for the client's ACK")
  }

  /// Sends `data` in one PSH+ACK segment and waits until the peer acknowledges all of it.
  /// Data the peer sends meanwhile is accepted and acknowledged.
  public func sendData(_ data: [UInt8], timeout: Duration? = nil) throws(ScriptError) {
    guard state == .established || state == .closeWait else { throw .invalidState(step: "send data", state: state) }
    try send([.psh, .ack], payload: data, step: "sending data")
    let end = sendNext
    let reply = try expect(.acknowledging(end, what: "the ACK of our data"), within: timeout, step: "waiting for the ACK of our data")
    if !reply.payload.isEmpty || reply.flags.contains(.fin) { try send(.ack, step: "acknowledging the peer's data") }
  }

  /// Waits for data from the peer and acknowledges it. Returns the bytes.
  @discardableResult
  public func receiveData(timeout: Duration? = nil) throws(ScriptError) -> [UInt8] {
    let segment = try expect(.data, within: timeout, step: "waiting for data")
    try send(.ack, step: "acknowledging data")
    return segment.payload
  }

  /// Active close, the 4-way close from our side (RFC 9293 §3.6, Figure 12):
  /// FIN → ACK (FIN-WAIT-1 → FIN-WAIT-2) → FIN → ACK (TIME-WAIT).
  ///
  /// A peer that closes at once may send its FIN with the ACK (FIN-WAIT-1 → TIME-WAIT). Data the
  /// peer still sends is accepted and acknowledged. Ends in TIME-WAIT; `finish()` ends that.
  ///
  /// `windowUpdate`: once our FIN is acknowledged (and the peer's FIN has not come with it), send
  /// one bare ACK announcing our window, as the client in the lab walkthrough's trace does.
  public func activeClose(timeout: Duration? = nil, windowUpdate: Bool = false) throws(ScriptError) {
    guard state == .established || state == .synReceived else { throw .invalidState(step: "close", state: state) }
    try send([.fin, .ack], step: "close: sending FIN")
    let finEnd = sendNext
    var segment = try expect(.acknowledging(finEnd, what: "the ACK of our FIN"), within: timeout, step: "close: waiting for the ACK of our FIN")
    if windowUpdate && !segment.flags.contains(.fin) { try send(.ack, step: "close: sending a window update") }
    // Bounded: the peer may send data segments before its FIN; each is acknowledged.
    for _ in 0..<64 where !segment.flags.contains(.fin) {
      if !segment.payload.isEmpty { try send(.ack, step: "close: acknowledging data") }
      segment = try expect(.nextFromPeer("the peer's FIN (it stays in CLOSE-WAIT until its application closes)"), within: timeout, step: "close: waiting for the peer's FIN")
    }
    guard segment.flags.contains(.fin) else {
      throw .timedOut(step: "close", expected: SegmentPattern.fin.description, waited: timeout ?? defaultTimeout, unmatched: [])
    }
    try send(.ack, step: "close: acknowledging the peer's FIN")
  }

  /// Passive close (RFC 9293 §3.6): the peer's FIN arrives (CLOSE-WAIT), we acknowledge it, send
  /// our own FIN (LAST-ACK) and wait for its ACK (CLOSED).
  public func passiveClose(timeout: Duration? = nil) throws(ScriptError) {
    guard state == .established || state == .closeWait else { throw .invalidState(step: "passive close", state: state) }
    if state == .established {
      let finPattern = SegmentPattern.nextFromPeer("the peer's FIN (its application has not closed yet)")
      var segment = try expect(finPattern, within: timeout, step: "passive close: waiting for the peer's FIN")
      for _ in 0..<64 where !segment.flags.contains(.fin) {
        if !segment.payload.isEmpty { try send(.ack, step: "passive close: acknowledging data") }
        segment = try expect(finPattern, within: timeout, step: "passive close: waiting for the peer's FIN")
      }
      try send(.ack, step: "passive close: acknowledging the peer's FIN")
    }
    try send([.fin, .ack], step: "passive close: sending our FIN")
    try expect(.acknowledging(sendNext, what: "the ACK of our FIN"), within: timeout, step: "passive close: waiting for the last ACK")
  }

  /// Simultaneous close (RFC 9293 §3.6, Figure 13): we send our FIN without having seen the
  /// peer's, its FIN crosses ours (FIN-WAIT-1 → CLOSING), each side acknowledges the other's, and
  /// both end in TIME-WAIT. The peer must be closing at the same time (its FIN already on the way).
  public func simultaneousClose(timeout: Duration? = nil) throws(ScriptError) {
    guard state == .established else { throw .invalidState(step: "simultaneous close", state: state) }
    try send([.fin, .ack], step: "simultaneous close: sending FIN")
    let finEnd = sendNext
    try expect(.fin, within: timeout, step: "simultaneous close: waiting for the peer's FIN")
    try send(.ack, step: "simultaneous close: acknowledging the peer's FIN")
    if state == .closing {
      try expect(.acknowledging(finEnd, what: "the ACK of our FIN"), within: timeout, step: "simultaneous close: waiting for the ACK of our FIN")
    }
  }

  /// Abort (RFC 9293 §3.10.5): one RST at SND.NXT; the connection is gone at once (CLOSED).
  public func abort() throws(ScriptError) {
    try send(.rst, ack: 0, step: "abort: sending RST")
  }
}
