/// The eleven connection states of RFC 9293 §3.3.2, for our side of a hand-driven flow.
///
/// One spelling everywhere we print a state (lines, ladders, SVG, pcapng comments, JSON):
/// RFC 9293's (`SYN-SENT`, `FIN-WAIT-1`, `TIME-WAIT`), which is `description` and `rfcName`.
/// The peer's kernel states read with `inet_diag` are shown in the same spelling.
/// `netstatName` spells it with underscores (`SYN_SENT`, `CLOSE_WAIT`); `kernelName` exactly as
/// Linux's `ss` and `netstat` print it (`SYN_RECV`, `FIN_WAIT1`). `init?(name:)` accepts all of
/// them, any case.
public enum TCPState: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
  case closed, listen, synSent, synReceived, established, finWait1, finWait2, closeWait, closing,
    lastAck, timeWait

  /// RFC 9293's spelling (`SYN-SENT`, `FIN-WAIT-1`): the one spelling we print.
  public var description: String { rfcName }

  /// `SYN_SENT`, `SYN_RECEIVED`, `FIN_WAIT_1`, `CLOSE_WAIT`, ... (the RFC words joined by `_`).
  public var netstatName: String {
    String(rfcName.map { $0 == "-" ? "_" : $0 })
  }

  /// The RFC 9293 spelling: `SYN-SENT`, `SYN-RECEIVED`, `FIN-WAIT-1`, `TIME-WAIT`, ...
  public var rfcName: String {
    switch self {
    case .closed: "CLOSED"
    case .listen: "LISTEN"
    case .synSent: "SYN-SENT"
    case .synReceived: "SYN-RECEIVED"
    case .established: "ESTABLISHED"
    case .finWait1: "FIN-WAIT-1"
    case .finWait2: "FIN-WAIT-2"
    case .closeWait: "CLOSE-WAIT"
    case .closing: "CLOSING"
    case .lastAck: "LAST-ACK"
    case .timeWait: "TIME-WAIT"
    }
  }

  /// The Linux spelling, as `netstat` prints it (`SYN_RECV`, `FIN_WAIT1`, `TIME_WAIT`, `CLOSE`).
  public var kernelName: String {
    switch self {
    case .synReceived: "SYN_RECV"
    case .finWait1: "FIN_WAIT1"
    case .finWait2: "FIN_WAIT2"
    case .closed: "CLOSE"
    default: netstatName
    }
  }

  /// Parses any of the spellings above (`SYN-SENT`, `SYN_SENT`, `syn_sent`, `SYN_RECV`,
  /// `FIN_WAIT1`, `synSent`). Returns `nil` for anything else.
  public init?(name: String) {
    func squeeze(_ text: String) -> String {
      String(text.uppercased().filter { $0 != "-" && $0 != "_" && $0 != " " })
    }
    let key = squeeze(name)
    for state in TCPState.allCases {
      if [state.rfcName, state.kernelName, state.netstatName, state.rawValue].contains(where: { squeeze($0) == key }) {
        self = state
        return
      }
    }
    return nil
  }

  /// Whether the connection is synchronized: the states after the handshake (RFC 9293 §3.5.2).
  public var isSynchronized: Bool {
    switch self {
    case .closed, .listen, .synSent, .synReceived: false
    default: true
    }
  }
}

/// What happens to our side of a connection, as labelled on the arrows of RFC 9293's state
/// diagram (Figure 5). A flow derives events from the segments it sends and receives.
public enum TCPEvent: Hashable, Sendable, CustomStringConvertible {
  /// The user asks for a passive open (`LISTEN`).
  case passiveOpen
  /// We send a SYN without ACK (active open, or a SYN from LISTEN).
  case sendSYN
  /// We send a SYN with ACK (answering a SYN).
  case sendSYNACK
  /// We send a FIN (a CLOSE by the user).
  case sendFIN
  /// We send a RST (ABORT).
  case sendRST
  /// A SYN without ACK arrived.
  case receiveSYN
  /// A SYN+ACK arrived that acknowledges our SYN.
  case receiveSYNACK
  /// An ACK arrived that acknowledges our SYN (in SYN-RECEIVED).
  case receiveACKOfSYN
  /// An ACK arrived that acknowledges our FIN.
  case receiveACKOfFIN
  /// A FIN arrived, in sequence, not acknowledging a FIN of ours.
  case receiveFIN
  /// A FIN arrived that also acknowledges our FIN.
  case receiveFINACKOfFIN
  /// An acceptable RST arrived.
  case receiveRST
  /// The 2·MSL timer ran out.
  case timeout
  /// The user closes before anything was sent (LISTEN or SYN-SENT → CLOSED).
  case close

  public var description: String {
    switch self {
    case .passiveOpen: "passive OPEN"
    case .sendSYN: "snd SYN"
    case .sendSYNACK: "snd SYN,ACK"
    case .sendFIN: "snd FIN"
    case .sendRST: "snd RST"
    case .receiveSYN: "rcv SYN"
    case .receiveSYNACK: "rcv SYN,ACK"
    case .receiveACKOfSYN: "rcv ACK of SYN"
    case .receiveACKOfFIN: "rcv ACK of FIN"
    case .receiveFIN: "rcv FIN"
    case .receiveFINACKOfFIN: "rcv FIN,ACK of FIN"
    case .receiveRST: "rcv RST"
    case .timeout: "timeout=2MSL"
    case .close: "CLOSE"
    }
  }
}

/// The RFC 9293 state machine for one side, as a pure function.
///
/// State changes are attached to the event that triggers them in RFC 9293 §3.10 (the processing
/// of an arriving segment, or a user call): on receiving a SYN+ACK in SYN-SENT the connection is
/// ESTABLISHED, and the ACK we send next is the response, not a new event. Likewise a FIN arriving
/// in ESTABLISHED moves us to CLOSE-WAIT before we acknowledge it.
public enum TCPStateMachine {
  /// The state after `event` in `state`, or `nil` when Figure 5 has no such arrow (then the state
  /// stays as it is: a hand-crafted segment can be anything).
  public static func next(after state: TCPState, on event: TCPEvent) -> TCPState? {
    switch (state, event) {
    case (.closed, .passiveOpen): .listen
    case (.closed, .sendSYN): .synSent
    case (.listen, .sendSYN): .synSent
    case (.listen, .receiveSYN): .synReceived
    case (.listen, .close): .closed
    case (.synSent, .receiveSYN): .synReceived  // simultaneous open
    case (.synSent, .receiveSYNACK): .established
    case (.synSent, .close): .closed
    case (.synSent, .receiveRST): .closed
    case (.synReceived, .receiveACKOfSYN): .established
    case (.synReceived, .sendFIN): .finWait1
    case (.synReceived, .receiveRST): .closed  // LISTEN again after a passive open: see `Flow`
    case (.established, .sendFIN): .finWait1
    case (.established, .receiveFIN): .closeWait
    case (.finWait1, .receiveACKOfFIN): .finWait2
    case (.finWait1, .receiveFIN): .closing  // simultaneous close
    case (.finWait1, .receiveFINACKOfFIN): .timeWait
    case (.finWait2, .receiveFIN), (.finWait2, .receiveFINACKOfFIN): .timeWait
    case (.closing, .receiveACKOfFIN): .timeWait
    case (.closeWait, .sendFIN): .lastAck
    case (.lastAck, .receiveACKOfFIN): .closed
    case (.timeWait, .timeout): .closed
    case (.synReceived, .sendRST), (.synSent, .sendRST): .closed
    case (_, .sendRST) where state.isSynchronized: .closed
    case (_, .receiveRST) where state.isSynchronized: .closed
    default: nil
    }
  }
}
