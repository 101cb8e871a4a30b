import Testing
@testable import TCPScript

/// RFC 9293's state machine (Figure 5) as a pure function, the state names, and sequence space.
@Suite struct StateMachineTests {
  /// Walks `events` from `start`, returning every state visited (nil arrows leave it unchanged).
  func walk(_ start: TCPState, _ events: [TCPEvent]) -> [TCPState] {
    var state = start
    var visited = [state]
    for event in events {
      state = TCPStateMachine.next(after: state, on: event) ?? state
      visited.append(state)
    }
    return visited
  }

  @Test func activeOpenAndActiveClose() {
    // RFC 9293 Figure 6 then Figure 12, client side.
    #expect(
      walk(.closed, [.sendSYN, .receiveSYNACK, .sendFIN, .receiveACKOfFIN, .receiveFIN, .timeout])
        == [.closed, .synSent, .established, .finWait1, .finWait2, .timeWait, .closed])
  }

  @Test func passiveOpenAndPassiveClose() {
    #expect(
      walk(.closed, [.passiveOpen, .receiveSYN, .sendSYNACK, .receiveACKOfSYN, .receiveFIN, .sendFIN, .receiveACKOfFIN])
        == [.closed, .listen, .synReceived, .synReceived, .established, .closeWait, .lastAck, .closed])
  }

  @Test func simultaneousCloseGoesThroughClosing() {
    #expect(
      walk(.established, [.sendFIN, .receiveFIN, .receiveACKOfFIN])
        == [.established, .finWait1, .closing, .timeWait])
  }

  @Test func finThatAlsoAcknowledgesOurFINSkipsFinWait2() {
    #expect(TCPStateMachine.next(after: .finWait1, on: .receiveFINACKOfFIN) == .timeWait)
  }

  @Test func simultaneousOpen() {
    #expect(walk(.closed, [.sendSYN, .receiveSYN, .receiveACKOfSYN]) == [.closed, .synSent, .synReceived, .established])
  }

  @Test func resets() {
    #expect(TCPStateMachine.next(after: .synSent, on: .receiveRST) == .closed)
    #expect(TCPStateMachine.next(after: .established, on: .receiveRST) == .closed)
    #expect(TCPStateMachine.next(after: .closeWait, on: .sendRST) == .closed)
    #expect(TCPStateMachine.next(after: .listen, on: .receiveRST) == nil)
    #expect(TCPStateMachine.next(after: .closed, on: .sendRST) == nil)
  }

  @Test func arrowsThatDoNotExistLeaveTheStateAlone() {
    #expect(TCPStateMachine.next(after: .established, on: .receiveSYNACK) == nil)
    #expect(TCPStateMachine.next(after: .closed, on: .receiveFIN) == nil)
    #expect(TCPStateMachine.next(after: .timeWait, on: .sendFIN) == nil)
  }

  @Test func allElevenStatesAreReachable() {
    var reached: Set<TCPState> = [.closed]
    var frontier: [TCPState] = [.closed]
    let events: [TCPEvent] = [
      .passiveOpen, .sendSYN, .sendSYNACK, .sendFIN, .sendRST, .receiveSYN, .receiveSYNACK,
      .receiveACKOfSYN, .receiveACKOfFIN, .receiveFIN, .receiveFINACKOfFIN, .receiveRST, .timeout, .close,
    ]
    while let state = frontier.popLast() {
      for event in events {
        if let next = TCPStateMachine.next(after: state, on: event), reached.insert(next).inserted {
          frontier.append(next)
        }
      }
    }
    #expect(reached == Set(TCPState.allCases))
    #expect(TCPState.allCases.count == 11)
  }

  @Test(arguments: [
    ("SYN-SENT", TCPState.synSent), ("SYN_SENT", .synSent), ("syn_sent", .synSent),
    ("SYN_RECV", .synReceived), ("SYN-RECEIVED", .synReceived), ("FIN_WAIT1", .finWait1),
    ("FIN-WAIT-2", .finWait2), ("CLOSE_WAIT", .closeWait), ("LAST-ACK", .lastAck),
    ("TIME_WAIT", .timeWait), ("closing", .closing), ("ESTABLISHED", .established), ("CLOSE", .closed),
  ])
  func namesParse(text: String, state: TCPState) {
    #expect(TCPState(name: text) == state)
  }

  @Test func namesPrint() {
    #expect(TCPState.synSent.description == "SYN-SENT")
    #expect(TCPState.synSent.netstatName == "SYN_SENT")
    #expect(TCPState.synSent.rfcName == "SYN-SENT")
    #expect(TCPState.synReceived.kernelName == "SYN_RECV")
    #expect(TCPState.finWait1.description == "FIN-WAIT-1")
    #expect(TCPState.finWait1.kernelName == "FIN_WAIT1")
    #expect(TCPState(name: "SYN_SENDING") == nil)
    #expect(TCPState(name: "") == nil)
  }

  @Test func sequenceSpaceWraps() {
    #expect(SequenceSpace.less(0xFFFF_FFF0, 0x10))
    #expect(!SequenceSpace.less(0x10, 0xFFFF_FFF0))
    #expect(SequenceSpace.lessOrEqual(5, 5))
    #expect(SequenceSpace.contains(0x5, windowStart: 0xFFFF_FFFE, size: 16))
    #expect(!SequenceSpace.contains(0x20, windowStart: 0xFFFF_FFFE, size: 16))
    #expect(SequenceSpace.offset(3, from: 0xFFFF_FFFF) == 4)
  }
}
