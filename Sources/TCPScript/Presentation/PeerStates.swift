/// Both ends' states row by row, each shown on the row where it began.
///
/// Our own states are exact (the flow's state machine). The peer's come from its kernel
/// (`inet_diag` samples before and after each segment, when the peer is a local socket), but a
/// sample can run ahead of the transcript: a kernel that acknowledges our FIN and closes at once
/// is already in LAST-ACK when we read its ACK. So the peer's side is also played through RFC
/// 9293's state machine, mirrored (what we send, it receives), and a sampled state is put on the
/// row where the mirrored machine enters it. Where the kernel disagrees with the machine, the
/// kernel wins and the machine continues from the kernel's state.
public struct PeerStates: Sendable {
  /// The peer's state before the first segment (`LISTEN` for a server waiting), or `nil`.
  public var initial: String?
  /// Per entry: the peer's state after that segment, or `nil` when not known.
  public var after: [String?]
  /// Per entry: whether the peer's state changed on that row (so a ladder prints it there).
  public var changed: [Bool]
  /// Why there is no peer column, when there is none (a peer on another host).
  public var unknownReason: String?

  /// Works out the peer's states for `entries`.
  ///
  /// `live`: the transcript is still growing, so a sample the machine could still reach (by
  /// segments not seen yet) counts as ahead, not as a disagreement.
  public init(_ entries: [TranscriptEntry], live: Bool = false) {
    after = Array(repeating: nil, count: entries.count)
    changed = Array(repeating: false, count: entries.count)
    guard let first = entries.first else { return }
    let sampled = entries.contains { $0.peerState != nil || $0.peerStateBefore != nil }
    if !sampled {
      let peer = first.direction == .sent ? first.destinationAddress : first.sourceAddress
      unknownReason = "peer state not shown: \(peer) is not a socket on this host (inet_diag sees only local sockets)"
      return
    }
    if PeerStates.noKernelSocket(entries) {
      let peer = first.direction == .sent ? first.destinationAddress : first.sourceAddress
      let port = first.direction == .sent ? first.destinationPort : first.sourcePort
      unknownReason = "peer state not shown: no kernel socket on this host owns \(peer.bracketed):\(port) (a hand-driven peer such as tcpcraft listen, or a raw sender)"
      return
    }
    // Where the peer started: a SYN it sent means it was CLOSED (a connect()); else the sample.
    var state: TCPState
    if first.direction == .received && first.has(FlagBits.syn) && !first.has(FlagBits.ack) {
      state = .closed
    } else {
      let sampleAfter = first.peerState.flatMap(TCPState.init(name:))
      if let before = first.peerStateBefore.flatMap(TCPState.init(name:)) {
        state = before
      } else if first.direction == .sent && first.has(FlagBits.syn) && !first.has(FlagBits.ack)
        && sampleAfter == .synReceived
      {
        state = .listen  // our SYN found a listener
      } else {
        state = sampleAfter ?? .closed
      }
    }
    initial = state.description
    var peerFIN: UInt32?
    var previous = state
    for (index, entry) in entries.enumerated() {
      state = PeerStates.step(state, entry, peerFIN: &peerFIN)
      // Reconcile with the kernel: a sample equal to the machine's state, or to one it reaches
      // later on, agrees; anything else is the truth and the machine continues from it.
      if let sample = entry.peerState.flatMap(TCPState.init(name:)), sample != state {
        var ahead = false
        var probe = state
        var probeFIN = peerFIN
        for later in entries[(index + 1)...] {
          probe = PeerStates.step(probe, later, peerFIN: &probeFIN)
          if probe == sample { ahead = true; break }
        }
        if live && !ahead { ahead = PeerStates.reachable(sample, from: state) }
        // A socket gone (CLOSED) after TIME-WAIT or LAST-ACK is the same end.
        if !ahead && !(sample == .closed && (state == .timeWait || state == .closed)) { state = sample }
      }
      after[index] = state.description
      changed[index] = state != previous
      previous = state
    }
  }

  /// The peer's state for the newest entry of `entries`, as a live line can know it: the mirrored
  /// machine's step from the previous row, and the kernel's sample when it is already further on
  /// (a fast application). `nil` state when the peer's state is not known at all.
  public static func live(_ entries: [TranscriptEntry]) -> (state: String?, before: String?, kernelAhead: String?) {
    guard let last = entries.last else { return (nil, nil, nil) }
    let earlier = PeerStates(Array(entries.dropLast()), live: true)
    let full = PeerStates(entries)
    guard full.unknownReason == nil, let initial = full.initial.flatMap(TCPState.init(name:)) else { return (nil, nil, nil) }
    let previous = earlier.after.last.flatMap { $0 }.flatMap(TCPState.init(name:)) ?? initial
    var fin: UInt32?
    for entry in entries.dropLast() where entry.direction == .received && entry.has(FlagBits.fin) {
      fin = entry.sequenceNumber &+ UInt32(truncatingIfNeeded: entry.payloadLength)
    }
    let stepped = step(previous, last, peerFIN: &fin)
    let sample = last.peerState
    let ahead = sample.flatMap { $0 == stepped.description ? nil : $0 }
    return (stepped.description, previous.description, ahead)
  }

  /// Whether RFC 9293's diagram leads from `start` to `target` by some events.
  static func reachable(_ target: TCPState, from start: TCPState) -> Bool {
    let events: [TCPEvent] = [
      .passiveOpen, .sendSYN, .sendSYNACK, .sendFIN, .sendRST, .receiveSYN, .receiveSYNACK, .receiveACKOfSYN,
      .receiveACKOfFIN, .receiveFIN, .receiveFINACKOfFIN, .receiveRST, .timeout, .close,
    ]
    var seen: Set<TCPState> = [start]
    var queue = [start]
    // Bounded: at most the eleven states are visited.
    while let state = queue.popLast() {
      if state == target { return true }
      for event in events {
        if let next = TCPStateMachine.next(after: state, on: event), seen.insert(next).inserted { queue.append(next) }
      }
    }
    return false
  }

  /// Whether the peer is not a kernel socket at all: every sample says CLOSED (no socket) though
  /// the peer sent us something other than a RST.
  public static func noKernelSocket(_ entries: [TranscriptEntry]) -> Bool {
    let samples = entries.flatMap { [$0.peerStateBefore, $0.peerState] }.compactMap { $0 }
    guard !samples.isEmpty, samples.allSatisfy({ $0 == TCPState.closed.description }) else { return false }
    return entries.contains { $0.direction == .received && !$0.has(FlagBits.rst) }
  }

  /// The peer's state after `entry`, from `state`, by the mirrored state machine.
  static func step(_ state: TCPState, _ entry: TranscriptEntry, peerFIN: inout UInt32?) -> TCPState {
    let syn = entry.has(FlagBits.syn)
    let ack = entry.has(FlagBits.ack)
    let fin = entry.has(FlagBits.fin)
    func next(_ event: TCPEvent, _ from: TCPState) -> TCPState { TCPStateMachine.next(after: from, on: event) ?? from }
    // A segment with a bad checksum never reaches the receiver's TCP: nothing changes.
    if entry.direction == .sent && Teaching.checksumMark(entry) != nil { return state }
    // An IPv4 fragment (MF set or an offset) is held by the receiver's IP for reassembly: its TCP
    // never sees it (kernel fact 34).
    if entry.direction == .sent && Teaching.ipv4Fragment(entry) != nil { return state }
    // Linux's LISTEN case (tcp_rcv_state_process): a RST is dropped, an ACK (SYN+ACK included) is
    // answered by a RST, a SYN with FIN is dropped, anything else without SYN is dropped; only a
    // SYN (no ACK, RST or FIN) makes a connection request (kernel fact 35).
    if entry.direction == .sent && state == .listen && Teaching.listenerIgnores(entry) != nil { return state }
    if entry.has(FlagBits.rst) {
      // A RST the peer sent ends its side; one it receives ends a synchronized or half-open one.
      if entry.direction == .received { return state == .listen ? .listen : .closed }
      return state == .listen ? .listen : (state.isSynchronized || state == .synReceived || state == .synSent ? .closed : state)
    }
    if entry.direction == .received {
      // The peer sent it.
      if syn && !ack { return next(.sendSYN, state) }
      if syn && ack { return state == .listen ? .synReceived : state }
      if fin {
        peerFIN = entry.sequenceNumber &+ UInt32(truncatingIfNeeded: entry.payloadLength)
        return next(.sendFIN, state)
      }
      return state
    }
    // We sent it: the peer receives it.
    if syn && !ack { return next(.receiveSYN, state) }
    if syn && ack { return next(.receiveSYNACK, state) }
    var current = state
    var acksFIN = false
    if ack {
      if current == .synReceived { current = next(.receiveACKOfSYN, current) }
      if let peerFIN, entry.acknowledgmentNumber == peerFIN &+ 1 { acksFIN = true }
    }
    if fin && current != .listen && current != .closed {
      if acksFIN && current == .finWait1 { return next(.receiveFINACKOfFIN, current) }
      if acksFIN { current = next(.receiveACKOfFIN, current) }
      return next(.receiveFIN, current)
    }
    if acksFIN { current = next(.receiveACKOfFIN, current) }
    return current
  }

  /// `TIME-WAIT (2·MSL: 59.8 s left)` for the last sample that saw the peer's timer running in
  /// TIME-WAIT, so that the wait is seen, not told.
  public static func timeWaitNote(_ entry: TranscriptEntry) -> String? {
    guard entry.peerState == TCPState.timeWait.description, let ms = entry.peerTimerMilliseconds else { return nil }
    let tenths = (Int(ms) + 50) / 100
    return "2·MSL timer: \(tenths / 10).\(tenths % 10) s left"
  }
}
