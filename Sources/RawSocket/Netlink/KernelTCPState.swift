/// The state of a kernel TCP socket, as `inet_diag` reports it (`TCP_*` in `<net/tcp_states.h>`).
///
/// `description` is the name netstat prints (`ESTABLISHED`, `SYN_RECV`, `CLOSE_WAIT`, ...);
/// `ssName` is what `ss` prints, `rfc9293Name` the RFC's spelling.
public enum KernelTCPState: UInt8, CaseIterable, Hashable, Sendable, CustomStringConvertible {
  /// `TCP_ESTABLISHED` (1).
  case established = 1
  /// `TCP_SYN_SENT` (2).
  case synSent = 2
  /// `TCP_SYN_RECV` (3). Also what inet_diag reports for a listener's request sockets.
  case synReceived = 3
  /// `TCP_FIN_WAIT1` (4).
  case finWait1 = 4
  /// `TCP_FIN_WAIT2` (5).
  case finWait2 = 5
  /// `TCP_TIME_WAIT` (6).
  case timeWait = 6
  /// `TCP_CLOSE` (7).
  case closed = 7
  /// `TCP_CLOSE_WAIT` (8).
  case closeWait = 8
  /// `TCP_LAST_ACK` (9).
  case lastAck = 9
  /// `TCP_LISTEN` (10).
  case listen = 10
  /// `TCP_CLOSING` (11).
  case closing = 11
  /// `TCP_NEW_SYN_RECV` (12): a request socket (a SYN answered, the final ACK not yet seen).
  case newSynReceived = 12

  /// The netstat name: `ESTABLISHED`, `SYN_SENT`, `SYN_RECV`, `FIN_WAIT1`, `FIN_WAIT2`,
  /// `TIME_WAIT`, `CLOSE`, `CLOSE_WAIT`, `LAST_ACK`, `LISTEN`, `CLOSING`, `NEW_SYN_RECV`.
  public var netstatName: String {
    switch self {
    case .established: "ESTABLISHED"
    case .synSent: "SYN_SENT"
    case .synReceived: "SYN_RECV"
    case .finWait1: "FIN_WAIT1"
    case .finWait2: "FIN_WAIT2"
    case .timeWait: "TIME_WAIT"
    case .closed: "CLOSE"
    case .closeWait: "CLOSE_WAIT"
    case .lastAck: "LAST_ACK"
    case .listen: "LISTEN"
    case .closing: "CLOSING"
    case .newSynReceived: "NEW_SYN_RECV"
    }
  }

  /// The name `ss` prints: `ESTAB`, `SYN-SENT`, `SYN-RECV`, `FIN-WAIT-1`, ..., `UNCONN` for CLOSE.
  public var ssName: String {
    switch self {
    case .established: "ESTAB"
    case .synSent: "SYN-SENT"
    case .synReceived, .newSynReceived: "SYN-RECV"
    case .finWait1: "FIN-WAIT-1"
    case .finWait2: "FIN-WAIT-2"
    case .timeWait: "TIME-WAIT"
    case .closed: "UNCONN"
    case .closeWait: "CLOSE-WAIT"
    case .lastAck: "LAST-ACK"
    case .listen: "LISTEN"
    case .closing: "CLOSING"
    }
  }

  /// The RFC 9293 spelling: `ESTABLISHED`, `SYN-SENT`, `SYN-RECEIVED`, `FIN-WAIT-1`, `CLOSED`...
  public var rfc9293Name: String {
    switch self {
    case .established: "ESTABLISHED"
    case .synSent: "SYN-SENT"
    case .synReceived, .newSynReceived: "SYN-RECEIVED"
    case .finWait1: "FIN-WAIT-1"
    case .finWait2: "FIN-WAIT-2"
    case .timeWait: "TIME-WAIT"
    case .closed: "CLOSED"
    case .closeWait: "CLOSE-WAIT"
    case .lastAck: "LAST-ACK"
    case .listen: "LISTEN"
    case .closing: "CLOSING"
    }
  }

  public var description: String { netstatName }

  /// Parses a netstat, ss or RFC 9293 name, any case, `-` or `_` (e.g. `close_wait`, `SYN-SENT`,
  /// `ESTAB`, `CLOSED`).
  public init?(name: String) {
    let key = name.uppercased().replacingDashes()
    for state in Self.allCases
    where [state.netstatName, state.ssName, state.rfc9293Name].contains(where: { $0.replacingDashes() == key }) {
      // SYN-RECV / SYN-RECEIVED name synReceived, not the request-socket state.
      self = state
      return
    }
    return nil
  }

  /// The bit of this state in an `idiag_states` mask (`1 << state`).
  public var maskBit: UInt32 { 1 << UInt32(rawValue) }
}

extension String {
  fileprivate func replacingDashes() -> String {
    String(map { $0 == "-" ? "_" : $0 }).replacingOccurrences(of: "FIN_WAIT_", with: "FIN_WAIT")
  }

  private func replacingOccurrences(of target: String, with replacement: String) -> String {
    guard !target.isEmpty else { return self }
    var result = ""
    var rest = self[...]
    while let range = rest.firstRange(of: target) {
      result += rest[..<range.lowerBound]
      result += replacement
      rest = rest[range.upperBound...]
    }
    return result + rest
  }
}
