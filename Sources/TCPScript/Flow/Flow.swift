import PacketKit
import RawSocket

/// How a flow moves bytes: a raw sender and a capture for one 4-tuple (see `KernelTransport`).
public protocol FlowTransport: AnyObject {
  /// Sends one IP packet (IPv4 or IPv6, header included).
  func send(_ packet: [UInt8], to address: IPAddress) throws(ScriptError)
  /// The next captured IP packet (IPv4 or IPv6), or `nil` when `timeout` passes first.
  func receive(timeout: Duration) throws(ScriptError) -> CapturedPacket?
  /// The peer's kernel TCP state (Linux spelling) when the peer is a local socket, else `nil`.
  func peerState(local: Endpoint, remote: Endpoint) -> String?
  /// The peer's kernel state and timer, when the peer is a local socket, else `nil`.
  func peerSample(local: Endpoint, remote: Endpoint) -> PeerSample?
  /// Releases sockets and the RST guard.
  func close()
}

extension FlowTransport {
  public func peerState(local: Endpoint, remote: Endpoint) -> String? { nil }
  public func peerSample(local: Endpoint, remote: Endpoint) -> PeerSample? {
    peerState(local: local, remote: remote).map { PeerSample(state: $0, timerMilliseconds: nil) }
  }
}

/// One reading of the peer's kernel socket: its state (any spelling `TCPState(name:)` reads, or
/// Linux's) and, when a timer runs, milliseconds until it fires (`idiag_expires`).
public struct PeerSample: Hashable, Sendable {
  public var state: String
  public var timerMilliseconds: UInt32?
  public init(state: String, timerMilliseconds: UInt32? = nil) {
    self.state = state
    self.timerMilliseconds = timerMilliseconds
  }

  /// The state in our one spelling (RFC 9293's) when it is one of the eleven, else as read.
  public var spelled: String { TCPState(name: state)?.description ?? state }
}

/// One TCP connection driven by hand, for one 4-tuple.
///
/// A flow tracks what RFC 9293 calls the TCB for our side — ISS, IRS, SND.UNA, SND.NXT, RCV.NXT,
/// the windows — and walks the state machine (`TCPStateMachine`) as segments go out and come in.
/// It sends whatever it is asked to (every field can be overridden) and waits for segments that
/// match a pattern (`expect`). Every segment, sent or received, is appended to `transcript` with
/// our state before and after and, when the peer is a local socket, the peer's kernel state.
/// Segments that arrive but match no expectation are kept (`unmatched`) and shown, never dropped.
///
/// Nothing is sent automatically: the exchanges in `Flow+Exchanges.swift` spell out every ACK.
public final class Flow {
  /// Our end and the peer's. `remote.port == 0` until a passive open has seen the client's SYN.
  public private(set) var local: Endpoint
  public private(set) var remote: Endpoint
  /// Our side's state (RFC 9293 §3.3.2).
  public private(set) var state: TCPState
  /// ISS: our initial sequence number.
  public var initialSendSequence: UInt32
  /// IRS: the peer's initial sequence number, once its SYN was seen.
  public private(set) var initialReceiveSequence: UInt32?
  /// SND.UNA: the oldest of our sequence numbers not yet acknowledged.
  public var sendUnacknowledged: UInt32
  /// SND.NXT: the sequence number of the next byte we send.
  public var sendNext: UInt32
  /// RCV.NXT: the next sequence number we expect from the peer (what we acknowledge).
  public var receiveNext: UInt32
  /// The window we advertise (RCV.WND), 65535 by default.
  public var window: UInt16 = 65535
  /// The window field on every segment after the handshake's SYN, when it differs from the SYN's
  /// (a SYN's window is never scaled, later ones are: RFC 7323 §2.2). `nil`: `window` everywhere.
  public var windowAfterSYN: UInt16?
  /// The peer's last advertised window (SND.WND, unscaled).
  public private(set) var peerWindow: UInt16 = 0
  /// Time to live (IPv4) or hop limit (IPv6) of the segments we send.
  public var timeToLive: UInt8 = 64
  /// The IPv6 flow label of the segments we send (20 bits; IPv6 flows only).
  public var flowLabel: UInt32 = 0
  /// The address family of this flow (both ends have the same one).
  public var family: IPAddress.Family { local.family }
  /// How long `expect` waits when not told.
  public var defaultTimeout: Duration = .seconds(3)
  /// Data the peer sent, in sequence, that we accepted.
  public private(set) var receivedData: [UInt8] = []
  /// Every segment so far.
  public private(set) var transcript = Transcript()
  /// Called with each new transcript entry as it happens (for live output).
  public var onEntry: ((TranscriptEntry) -> Void)?
  /// Whether to read the peer's kernel state after each segment (`inet_diag`, local peers only).
  public var readsPeerState = true
  /// Timestamps (RFC 7323 §3.2): both SYNs carried TSopt, so every non-RST segment we send
  /// carries one too (added automatically unless the segment already has one).
  public var timestampsEnabled = false
  /// TS.Recent: the peer's latest TSval, echoed in our TSecr.
  public var peerTimestamp: UInt32 = 0
  /// Our TSval is `CLOCK_BOOTTIME` in milliseconds plus this offset, so that a later process
  /// continuing a saved session keeps the clock moving forward.
  public var timestampOffset: UInt32 = 0
  /// Our TSval now.
  public var currentTimestamp: UInt32 { Flow.millisecondClock() &+ timestampOffset }
  private var offeredTimestamps = false
  private var peerOfferedTimestamps = false

  /// Whether our last segment was answered by a RST (kept for error reports).
  public private(set) var lastReset: Segment?

  /// The seq of our FIN, once sent (its ACK is `finSequence + 1`).
  public private(set) var finSequence: UInt32?
  private var cameFromListen = false
  private var unmatchedSegments: [Segment] = []
  private let transport: FlowTransport
  private let clock = ContinuousClock()
  private let start: ContinuousClock.Instant
  private var buffer: [UInt8] = []
  /// The IPv4 identification of the next segment `send` builds (one more each time; random at
  /// first). A caller that wants reproducible packets sets it.
  public var identification: UInt16

  /// A flow over `transport` between `local` and `remote`, in `state` with the given sequence
  /// variables (a fresh flow: `.closed` and a random ISS; a resumed one: what was saved).
  public init(
    local: Endpoint, remote: Endpoint, transport: FlowTransport, state: TCPState = .closed,
    initialSendSequence: UInt32? = nil, sendNext: UInt32? = nil, receiveNext: UInt32 = 0,
    initialReceiveSequence: UInt32? = nil
  ) {
    var generator = SystemRandomNumberGenerator()
    let iss = initialSendSequence ?? generator.next()
    self.local = local
    self.remote = remote
    self.transport = transport
    self.state = state
    self.initialSendSequence = iss
    self.sendUnacknowledged = sendNext ?? iss
    self.sendNext = sendNext ?? iss
    self.receiveNext = receiveNext
    self.identification = generator.next()
    self.start = clock.now
    if state != .closed && state != .listen {
      transcript.initialSendSequence = iss
    }
    if let initialReceiveSequence {
      self.initialReceiveSequence = initialReceiveSequence
    } else if state.isSynchronized || state == .synReceived {
      self.initialReceiveSequence = receiveNext &- 1
    }
    transcript.initialReceiveSequence = self.initialReceiveSequence
    buffer.reserveCapacity(1600)
  }

  deinit { transport.close() }

  /// Releases the transport (sockets, the RST guard). The flow keeps its transcript.
  public func close() { transport.close() }

  /// Segments that arrived, matched no expectation, and were not taken by a later one.
  public var unmatched: [Segment] { unmatchedSegments }

  // MARK: - Sending

  /// Sends one segment from `local` to `remote`: `IPv4Header / TCPHeader / payload`, or over IPv6
  /// `IPv6Header / TCPHeader / payload` (the TCP checksum over the IPv6 pseudo-header, RFC 8200
  /// §8.1).
  ///
  /// Defaults: `seq` = SND.NXT; `ack` = RCV.NXT when `flags` has ACK, else 0; `window` = ours.
  /// `customize` may change any header field afterwards (checksum, data offset, TTL, addresses...).
  /// In an IPv6 flow its IPv4 header is a stand-in: only its `timeToLive` is used (as the hop
  /// limit); the TCP header is changed as in IPv4.
  /// SND.NXT advances when the segment starts at SND.NXT (so a retransmission does not move it),
  /// and the state machine takes the event (SYN, FIN, RST) the segment carries.
  @discardableResult
  public func send(
    _ flags: TCPFlags, seq: UInt32? = nil, ack: UInt32? = nil, window: UInt16? = nil,
    options: [TCPOption] = [], payload: [UInt8] = [], step: String = "send",
    customize: (inout IPv4Header, inout TCPHeader) -> Void = { _, _ in }
  ) throws(ScriptError) -> TranscriptEntry {
    let sequence = seq ?? sendNext
    let acknowledgment = ack ?? (flags.contains(.ack) ? receiveNext : 0)
    guard local.family == remote.family || remote.isAnyAddress else {
      throw .packet(step: step, description: "\(local) and \(remote) are not of the same address family")
    }
    var ip = IPv4Header(
      sourceAddress: local.ipv4 ?? .any, destinationAddress: remote.ipv4 ?? .any,
      identification: identification, flags: .dontFragment, timeToLive: timeToLive)
    if family == .ipv4 { identification &+= 1 }
    var options = options
    let carriesTimestamps = options.contains { if case .timestamps = $0 { true } else { false } }
    if flags.contains([.syn, .ack]) && peerOfferedTimestamps {
      // A SYN+ACK echoes the client's TSval (RFC 7323 §3.2) when the caller left TSecr at 0.
      options = options.map { option in
        if case .timestamps(let value, 0) = option { return .timestamps(value: value, echoReply: peerTimestamp) }
        return option
      }
    }
    if flags.contains(.syn) && carriesTimestamps {
      // Our clock continues from the TSval our SYN carries (else PAWS, RFC 7323 §5, would make
      // the peer drop our later segments as old).
      for case .timestamps(let value, _) in options { timestampOffset = value &- Flow.millisecondClock() }
      if flags.contains(.ack) {
        if peerOfferedTimestamps { timestampsEnabled = true }
      } else {
        offeredTimestamps = true
      }
    }
    if timestampsEnabled && !carriesTimestamps && !flags.contains(.rst) {
      options += [.noOperation, .noOperation, .timestamps(value: currentTimestamp, echoReply: peerTimestamp)]
    }
    var tcp = TCPHeader(
      sourcePort: local.port, destinationPort: remote.port, sequenceNumber: sequence,
      acknowledgmentNumber: acknowledgment, flags: flags,
      window: window ?? (flags.contains(.syn) ? self.window : windowAfterSYN ?? self.window),
      options: options)
    customize(&ip, &tcp)
    let destination: IPAddress
    do {
      switch (local.address, remote.address) {
      case (.v6(let source), .v6(let target)):
        let ip6 = IPv6Header(sourceAddress: source, destinationAddress: target, flowLabel: flowLabel, hopLimit: ip.timeToLive)
        try (ip6 / tcp / payload).encode(into: &buffer)
        destination = .v6(target)
      default:
        try (ip / tcp / payload).encode(into: &buffer)
        destination = .v4(ip.destinationAddress)
      }
    } catch {
      throw .packet(step: step, description: "\(error)")
    }
    let bytes = buffer
    let before = state
    let peerBefore = readsPeerState && remote.port != 0 ? transport.peerSample(local: local, remote: remote) : nil
    let time = Flow.wallClock()
    try transport.send(bytes, to: destination)

    track(tcp, payloadCount: payload.count)

    let entry = record(
      direction: .sent, bytes: bytes, time: time, source: local, destination: remote, flags: tcp.flags,
      seq: tcp.sequenceNumber, ack: tcp.acknowledgmentNumber, window: tcp.window,
      payloadLength: payload.count, before: before, expected: true, note: nil, peerBefore: peerBefore)
    return entry
  }


  /// Our side of the TCB after sending `tcp` with `payloadCount` data bytes (RFC 9293 §3.10):
  /// a SYN from CLOSED/LISTEN/SYN-SENT/SYN-RECEIVED sets ISS; SND.NXT advances when the segment
  /// starts at SND.NXT; the state machine takes the SYN, FIN or RST it carries.
  private func track(_ tcp: TCPHeader, payloadCount: Int) {
    let length = UInt32(truncatingIfNeeded: payloadCount) &+ (tcp.flags.contains(.syn) ? 1 : 0)
      &+ (tcp.flags.contains(.fin) ? 1 : 0)
    if tcp.flags.contains(.syn) && (state == .closed || state == .listen || state == .synSent || state == .synReceived) {
      initialSendSequence = tcp.sequenceNumber
      transcript.initialSendSequence = tcp.sequenceNumber
      sendUnacknowledged = tcp.sequenceNumber
      sendNext = tcp.sequenceNumber &+ length
    } else {
      let end = tcp.sequenceNumber &+ length
      if SequenceSpace.lessOrEqual(tcp.sequenceNumber, sendNext) && SequenceSpace.less(sendNext, end) {
        sendNext = end
      }
    }
    if tcp.flags.contains(.fin) {
      finSequence = tcp.sequenceNumber &+ UInt32(truncatingIfNeeded: payloadCount)
    }
    var events: [TCPEvent] = []
    if tcp.flags.contains(.rst) {
      events.append(.sendRST)
    } else {
      if tcp.flags.contains(.syn) { events.append(tcp.flags.contains(.ack) ? .sendSYNACK : .sendSYN) }
      if tcp.flags.contains(.fin) { events.append(.sendFIN) }
    }
    apply(events)
  }

  /// What a whole crafted packet does to our side of the connection (`send(packet:)`).
  public enum PacketEffect: Sendable {
    /// A segment of ours as RFC 9293 sends them: SND.NXT and the state move exactly as for
    /// `send(_:seq:ack:...)` (SYN sets ISS, SND.NXT advances when the segment starts there, its
    /// SYN, FIN or RST drives the state machine). Applies only when the packet is one whole,
    /// parseable TCP segment between this flow's ports; anything else is sent `.untracked`.
    case tracked
    /// Injected beside the connection: sent and recorded, the TCB and the state left as they
    /// were. For deliberately invalid packets (a bad checksum or option, a forced IPv4 field,
    /// fragments, a segment outside the window) and for segments whose effect is what a test
    /// measures: RFC 9293 gives a sender no rule for them, so the flow assumes nothing.
    case untracked
  }

  /// Sends a whole crafted IPv4 or IPv6 packet exactly as built (every IP and TCP field as given:
  /// checksums, lengths, flags, options, extension headers, fragments), then `trailer` bytes after
  /// it (a frame longer than the IP length), and appends it to the transcript with `note`.
  ///
  /// `effect` says whether the flow's TCB follows it (`.tracked`, the default: a segment of
  /// ours) or not (`.untracked`: invalid or measured packets). The IPv4 identification is the
  /// packet's own; the flow's `identification` does not move.
  /// - Throws: `.packet` when the packet cannot be encoded, or a transport error.
  @discardableResult
  public func send(
    packet: Packet, effect: PacketEffect = .tracked, trailer: [UInt8] = [], step: String = "send packet",
    note: String? = nil
  ) throws(ScriptError) -> TranscriptEntry {
    var bytes: [UInt8]
    do {
      bytes = try packet.encoded()
    } catch {
      throw .packet(step: step, description: "\(error)")
    }
    bytes += trailer
    let parsed = Flow.parseIP(bytes[...])
    let fragment = parsed?.isFragment ?? true
    // A first fragment still shows its TCP header in the transcript (it is never tracked).
    let tcp = parsed.flatMap { $0.protocol == .tcp && !$0.isNonFirstFragment ? try? TCPView(validating: $0.upperLayer) : nil }
    let source = Endpoint(address: parsed?.source ?? local.address, port: tcp?.sourcePort ?? 0)
    let destination = Endpoint(address: parsed?.destination ?? remote.address, port: tcp?.destinationPort ?? 0)
    let before = state
    let time = Flow.wallClock()
    try transport.send(bytes, to: destination.address)
    if effect == .tracked, !fragment, let tcp, source.port == local.port, destination.port == remote.port {
      track(TCPHeader(tcp), payloadCount: tcp.payload.count)
    }
    return record(
      direction: .sent, bytes: bytes, time: time, source: source, destination: destination,
      flags: tcp?.flags ?? [], seq: tcp?.sequenceNumber ?? 0, ack: tcp?.acknowledgmentNumber ?? 0,
      window: tcp?.window ?? 0, payloadLength: tcp?.payload.count ?? 0, before: before, expected: true, note: note)
  }

  // MARK: - Receiving

  /// Waits up to `timeout` for a segment matching `pattern` and returns it.
  ///
  /// Segments already received and not yet matched are looked at first. Every segment that
  /// arrives is processed by the state machine and recorded, whether it matches or not. A RST
  /// ends the wait at once (`.reset`) unless the pattern asks for one.
  /// - Throws: `.timedOut` (with what arrived instead), `.reset`, or a transport error.
  @discardableResult
  public func expect(_ pattern: SegmentPattern, within timeout: Duration? = nil, step: String = "expect")
    throws(ScriptError) -> Segment
  {
    if let index = unmatchedSegments.firstIndex(where: { pattern.matches($0) }) {
      let segment = unmatchedSegments.remove(at: index)
      // It was waited for after all: the transcript says so (it was shown as it arrived).
      if transcript.entries.indices.contains(segment.transcriptIndex) {
        transcript.entries[segment.transcriptIndex].expected = true
        transcript.entries[segment.transcriptIndex].note = nil
      }
      return segment
    }
    let waited = timeout ?? defaultTimeout
    let deadline = clock.now.advanced(by: waited)
    // Bounded: each pass either returns, records a segment, or ends at the deadline.
    for _ in 0..<100_000 {
      let remaining = clock.now.duration(to: deadline)
      if remaining <= .zero { break }
      guard let packet = try transport.receive(timeout: remaining) else { break }
      guard let segment = absorb(packet, pattern: pattern) else { continue }
      if pattern.matches(segment) { return segment }
      if segment.flags.contains(.rst) && !pattern.acceptsReset {
        lastReset = segment
        let portClosed = transcript.entries[segment.transcriptIndex].stateBefore == .synSent
        throw .reset(step: step, summary: segment.summary, portClosed: portClosed)
      }
      unmatchedSegments.append(segment)
    }
    throw .timedOut(
      step: step, expected: pattern.description, waited: waited,
      unmatched: unmatchedSegments.map(\.summary))
  }

  /// Receives for up to `duration` and returns every segment of this flow that arrived (each
  /// processed and recorded). For draining what is left, or watching.
  @discardableResult
  public func receiveAll(for duration: Duration) throws(ScriptError) -> [Segment] {
    var segments: [Segment] = []
    try receiveLoop(for: duration, graceAfterFirst: nil) { packet in
      guard let segment = absorb(packet, pattern: nil) else { return false }
      segments.append(segment)
      unmatchedSegments.append(segment)
      return true
    }
    return segments
  }

  /// Receives for up to `duration` and returns every packet of this flow it recorded, in order:
  /// the peer's segments (processed by the state machine as in `expect`) and ICMP errors about
  /// our segments (recorded; they change nothing). With `graceAfterFirst`, stops that long after
  /// the first one. Nothing is kept as unmatched: the caller looks at what comes back.
  public func collect(for duration: Duration, graceAfterFirst: Duration? = nil) throws(ScriptError) -> [CapturedPacket] {
    var packets: [CapturedPacket] = []
    try receiveLoop(for: duration, graceAfterFirst: graceAfterFirst) { packet in
      guard absorb(packet, pattern: nil) != nil || absorbICMP(packet) else { return false }
      packets.append(packet)
      return true
    }
    return packets
  }

  /// Hands each captured packet to `take` until `duration` passes or, with `graceAfterFirst`,
  /// that long after the first packet `take` kept. Bounded by the deadline and a count.
  private func receiveLoop(
    for duration: Duration, graceAfterFirst: Duration?, _ take: (CapturedPacket) -> Bool
  ) throws(ScriptError) {
    var deadline = clock.now.advanced(by: duration)
    var kept = false
    for _ in 0..<10_000 {
      let remaining = clock.now.duration(to: deadline)
      if remaining <= .zero { break }
      guard let packet = try transport.receive(timeout: remaining) else { break }
      guard take(packet) else { continue }
      if !kept, let graceAfterFirst {
        let end = clock.now.advanced(by: graceAfterFirst)
        if end < deadline { deadline = end }
      }
      kept = true
    }
  }

  /// Records an ICMP (or ICMPv6) error to our address that quotes a TCP segment from our port
  /// (or quotes less than an IP header). Returns whether it did; the TCB is not touched.
  private func absorbICMP(_ packet: CapturedPacket) -> Bool {
    guard let ip = Flow.parseIP(packet.bytes[...]), !ip.isFragment,
      ip.protocol == (ip.source.isIPv6 ? .icmpv6 : .icmp),
      ip.destination == local.address, remote.isAnyAddress || ip.source == remote.address
    else { return false }
    let icmp = ip.upperLayer
    // ICMPv6 informational messages (echo, neighbour discovery: types 128 and up) quote nothing.
    guard icmp.count >= 8, !ip.source.isIPv6 || icmp[icmp.startIndex] < 128 else { return false }
    let quoted = icmp.dropFirst(8)
    if let inner = Flow.parseIP(quoted), inner.protocol == .tcp {
      guard TCPHeader.quotedSourcePort(in: inner.upperLayer) == local.port else { return false }
    } else if quoted.count >= (ip.source.isIPv6 ? 40 : 20) {
      return false
    }
    _ = record(
      direction: .received, bytes: packet.bytes, time: (packet.timestampSeconds, packet.timestampNanoseconds),
      source: Endpoint(address: ip.source, port: 0), destination: Endpoint(address: local.address, port: 0),
      flags: [], seq: 0, ack: 0, window: 0, payloadLength: 0, before: state, expected: true, note: nil)
    return true
  }

  /// Forgets the unmatched segments (they stay in the transcript).
  public func clearUnmatched() { unmatchedSegments.removeAll() }

  /// Enters LISTEN (a passive open: RFC 9293 §3.10.1).
  public func listen() {
    cameFromListen = true
    apply([.passiveOpen])
  }

  /// Ends TIME-WAIT now (we do not wait 2·MSL in a script), or CLOSED from LISTEN/SYN-SENT.
  public func finish() {
    apply(state == .timeWait ? [.timeout] : [.close])
  }

  /// Parses a captured packet; if it belongs to this flow (from the peer to us), updates the TCB
  /// and the state and records it. Returns `nil` for anything else.
  private func absorb(_ packet: CapturedPacket, pattern: SegmentPattern?) -> Segment? {
    guard let ip = Flow.parseIP(packet.bytes[...]), ip.protocol == .tcp, !ip.isFragment,
      let tcpView = try? TCPView(validating: ip.upperLayer)
    else { return nil }
    let source = Endpoint(address: ip.source, port: tcpView.sourcePort)
    let destination = Endpoint(address: ip.destination, port: tcpView.destinationPort)
    if local.isAnyAddress, remote.port == 0, destination.port == local.port, tcpView.flags.contains(.syn),
      !tcpView.flags.contains(.ack)
    {
      // A wildcard listener (0.0.0.0:PORT, [::]:PORT) answers from the address the client asked
      // for, in its family.
      guard destination.family == local.family else { return nil }
      local = destination
    }
    guard destination == local else { return nil }
    if remote.port == 0 {
      // A passive open binds the peer on its first SYN.
      guard tcpView.flags.contains(.syn), !tcpView.flags.contains(.ack), remote.isAnyAddress || remote.address == source.address
      else { return nil }
      remote = source
    }
    guard source == remote else { return nil }
    let header = TCPHeader(tcpView)
    let payload = Array(tcpView.payload)
    let flags = header.flags
    let seq = header.sequenceNumber
    let ack = header.acknowledgmentNumber
    let before = state
    peerWindow = header.window
    for option in header.options {
      if case .timestamps(let value, _) = option {
        peerTimestamp = value
        if flags.contains(.syn) && !flags.contains(.ack) { peerOfferedTimestamps = true }
        if flags.contains([.syn, .ack]) && offeredTimestamps && state == .synSent { timestampsEnabled = true }
      }
    }

    var events: [TCPEvent] = []
    if flags.contains(.rst) {
      let acceptable: Bool
      switch state {
      case .closed, .listen: acceptable = false
      case .synSent: acceptable = flags.contains(.ack) && ack == sendNext
      default:
        acceptable = SequenceSpace.contains(seq, windowStart: receiveNext, size: UInt32(max(window, 1)))
      }
      if acceptable {
        if state == .synReceived && cameFromListen {
          state = .listen
        } else {
          events.append(.receiveRST)
        }
      }
    } else if flags.contains(.syn) && !flags.contains(.ack) {
      if state == .listen || state == .synSent || state == .closed {
        initialReceiveSequence = seq
        transcript.initialReceiveSequence = seq
        receiveNext = seq &+ 1 &+ UInt32(truncatingIfNeeded: payload.count)
        events.append(.receiveSYN)
      }
    } else if flags.contains(.syn) {
      if state == .synSent && ack == sendNext {
        initialReceiveSequence = seq
        transcript.initialReceiveSequence = seq
        receiveNext = seq &+ 1
        sendUnacknowledged = ack
        events.append(.receiveSYNACK)
      } else if state == .synReceived && ack == sendNext && seq &+ 1 == receiveNext {
        // Simultaneous open (RFC 9293 Figure 8): the peer's SYN+ACK repeats its SYN and
        // acknowledges ours.
        sendUnacknowledged = ack
        events.append(.receiveACKOfSYN)
      }
    } else {
      var acksFIN = false
      if flags.contains(.ack) {
        if state == .synReceived && ack == sendNext {
          apply([.receiveACKOfSYN])
        }
        if SequenceSpace.less(sendUnacknowledged, ack) && SequenceSpace.lessOrEqual(ack, sendNext) {
          sendUnacknowledged = ack
        }
        if let finSequence, ack == finSequence &+ 1 { acksFIN = true }
      }
      if !payload.isEmpty && seq == receiveNext && (state == .established || state == .finWait1 || state == .finWait2) {
        receiveNext = seq &+ UInt32(truncatingIfNeeded: payload.count)
        receivedData.append(contentsOf: payload)
      }
      let finInOrder = flags.contains(.fin) && seq &+ UInt32(truncatingIfNeeded: payload.count) == receiveNext
        && state != .listen && state != .synSent && state != .closed
      if finInOrder && !(state == .closeWait || state == .lastAck || state == .closing || state == .timeWait) {
        receiveNext &+= 1
        if acksFIN && state == .finWait1 {
          events.append(.receiveFINACKOfFIN)
        } else {
          if acksFIN { events.append(.receiveACKOfFIN) }
          events.append(.receiveFIN)
        }
      } else if acksFIN {
        events.append(.receiveACKOfFIN)
      }
    }
    apply(events)

    let matched = pattern?.matches(Segment(
      source: source, destination: destination, flags: flags, sequenceNumber: seq,
      acknowledgmentNumber: ack, window: header.window, options: header.options, payload: payload,
      summary: "", transcriptIndex: 0)) ?? false
    var note: String?
    if flags.contains(.rst) && before == .synSent {
      note = "port closed: nothing listens on \(remote)"
    } else if let pattern, !matched {
      note = "unexpected: waiting for \(pattern.description)"
    }
    let entry = record(
      direction: .received, bytes: packet.bytes,
      time: (packet.timestampSeconds, packet.timestampNanoseconds), source: source,
      destination: destination, flags: flags, seq: seq, ack: ack, window: header.window,
      payloadLength: payload.count, before: before, expected: pattern == nil || matched, note: note,
      checksumNotReady: packet.checksumNotReady)
    return Segment(
      source: source, destination: destination, flags: flags, sequenceNumber: seq,
      acknowledgmentNumber: ack, window: header.window, options: header.options, payload: payload,
      summary: entry.summary, transcriptIndex: transcript.entries.count - 1)
  }

  private func apply(_ events: [TCPEvent]) {
    for event in events {
      if let next = TCPStateMachine.next(after: state, on: event) { state = next }
    }
  }

  // MARK: - Parsing

  /// The parts of an IPv4 or IPv6 packet a flow looks at: addresses, the upper-layer protocol and
  /// its bytes (after IPv4 options, or after IPv6 extension headers), and whether it is a fragment.
  public struct ParsedIP: Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var `protocol`: IPProtocol
    public var upperLayer: ArraySlice<UInt8>
    /// Any fragment (IPv4 MF or offset; an IPv6 Fragment header), the first one included.
    public var isFragment: Bool
    /// A fragment after the first (its upper-layer header is not there).
    public var isNonFirstFragment: Bool
  }

  /// Parses `bytes` as IPv6 when the version nibble says 6, else as IPv4 (whose view keeps a
  /// forged version visible: a crafted IPv4 header with version 5 is still read as IPv4); `nil`
  /// when it does not validate. Never traps.
  public static func parseIP(_ bytes: ArraySlice<UInt8>) -> ParsedIP? {
    guard let first = bytes.first else { return nil }
    switch first >> 4 {
    case 6:
      guard let ip = try? IPv6View(validating: bytes) else { return nil }
      let chain = ip.extensionChain
      let fragmented = chain.headers.contains { $0.view.headerType == .ipv6Fragment }
      let payload = ip.payload
      let start = min(payload.count, chain.upperLayerOffset)
      return ParsedIP(
        source: .v6(ip.sourceAddress), destination: .v6(ip.destinationAddress), protocol: chain.upperLayer,
        upperLayer: payload.dropFirst(start), isFragment: fragmented || chain.error != nil,
        isNonFirstFragment: chain.isNonFirstFragment || chain.error != nil)
    default:
      guard let ip = try? IPv4View(validating: bytes) else { return nil }
      return ParsedIP(
        source: .v4(ip.sourceAddress), destination: .v4(ip.destinationAddress), protocol: ip.protocol,
        upperLayer: ip.payload, isFragment: ip.fragmentOffset != 0 || ip.flags.contains(.moreFragments),
        isNonFirstFragment: ip.fragmentOffset != 0)
    }
  }

  // MARK: - Transcript

  private func record(
    direction: TranscriptEntry.Direction, bytes: [UInt8], time: (Int64, Int32), source: Endpoint,
    destination: Endpoint, flags: TCPFlags, seq: UInt32, ack: UInt32, window: UInt16,
    payloadLength: Int, before: TCPState, expected: Bool, note: String?, checksumNotReady: Bool = false,
    peerBefore: PeerSample? = nil
  ) -> TranscriptEntry {
    // IPv6 by its version nibble (LINKTYPE_RAW reads it: `IP6 ...`); anything else as IPv4, as
    // before, so that a forged IPv4 version still prints as the IPv4 header it is.
    let summary = bytes.first.map { $0 >> 4 } == 6 ? tcpdumpSummary(bytes[...], linkType: .raw) : tcpdumpSummary(ipv4: bytes[...])
    var entry = TranscriptEntry(
      elapsed: start.duration(to: clock.now), timestampSeconds: time.0, timestampNanoseconds: time.1,
      direction: direction, summary: summary, sourceAddress: source.address, sourcePort: source.port,
      destinationAddress: destination.address, destinationPort: destination.port,
      flagBits: flags.rawValue, sequenceNumber: seq, acknowledgmentNumber: ack, window: window,
      payloadLength: payloadLength, stateBefore: before, stateAfter: state, expected: expected,
      note: note, packet: bytes)
    entry.checksumNotReady = checksumNotReady
    if readsPeerState && remote.port != 0 {
      // Before: sampled before we sent it; for a received segment, when we read it (the peer
      // already sent it, so its state then is the state the segment left it in).
      if direction == .sent { Flow.settle() }
      let after = transport.peerSample(local: local, remote: remote)
      entry.peerState = after?.spelled
      entry.peerTimerMilliseconds = after?.timerMilliseconds
      entry.peerStateBefore = direction == .sent ? peerBefore?.spelled : after?.spelled
    }
    transcript.entries.append(entry)
    onEntry?(entry)
    return entry
  }

  /// Gives the peer's kernel a moment to process what we just sent before reading its state.
  private static func settle() { SystemSleep.sleep(for: .milliseconds(1)) }

  /// Milliseconds since boot (`CLOCK_BOOTTIME`): the same clock in every process.
  public static func millisecondClock() -> UInt32 {
    let now = SystemClock.bootTime()
    return UInt32(truncatingIfNeeded: now.seconds * 1000 + Int64(now.nanoseconds) / 1_000_000)
  }

  static func wallClock() -> (Int64, Int32) {
    let now = SystemClock.realTime()
    return (now.seconds, now.nanoseconds)
  }
}
