// The drop-reason trace text (skb:kfree_skb lines of a tracefs `trace` file), parsed without
// privileges. The fixture lines are from Linux 6.18 on this machine (a bad-checksum SYN sent into
// a namespace over a veth).
@testable import TCPScript
import Testing

@Suite("Kernel drop reasons: parsing skb:kfree_skb trace lines")
struct ProbeDropsTests {
  static let trace = """
    # tracer: nop
    #
    #                                _-----=> irqs-off/BH-disabled
    #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
    #              | |         |   |||||     |         |
        kworker/u8:2-19251   [001] ..s1.  9121.640112: kfree_skb: skbaddr=00000000ab7d39da rx_sk=0000000000000000 protocol=34525 location=ip6_mc_input+0xd4/0x100 reason: NOT_SPECIFIED
             python3-13836   [001] ..s1.  9135.890665: kfree_skb: skbaddr=000000000987178d rx_sk=0000000000000000 protocol=2048 location=tcp_v4_rcv+0x99/0x1400 reason: TCP_CSUM
         ksoftirqd/0-14      [000] ..s..  9126.632093: kfree_skb: skbaddr=000000007f8f7af5 rx_sk=0000000000000000 protocol=2048 location=ip_rcv_core+0x22c/0x350 reason: IP_CSUM
      my-odd-name-42    [000] ..s..  1.000001: kfree_skb: protocol=2048 location=tcp_rcv_state_process+0x1/0x2 reason: TCP_FLAGS
        python3-13836   [001] ..s1.  9135.891469: consume_skb: skbaddr=00000000ab7d39da location=foo
    garbage line without brackets: kfree_skb: reason: X
    """

  @Test("Every kfree_skb line gives thread, task, time, EtherType, function and reason; others are skipped")
  func parsesLines() {
    let drops = KernelDrop.parse(Self.trace)
    #expect(drops.count == 4)
    #expect(drops[0] == KernelDrop(thread: 19251, task: "kworker/u8:2", nanoseconds: 9_121_640_112_000, etherType: 0x86DD, function: "ip6_mc_input", reason: "NOT_SPECIFIED"))
    #expect(drops[1].thread == 13836 && drops[1].task == "python3" && drops[1].reason == "TCP_CSUM")
    #expect(drops[1].function == "tcp_v4_rcv" && drops[1].etherType == 0x0800)
    #expect(drops[2].task == "ksoftirqd/0" && drops[2].thread == 14 && drops[2].brief == "IP_CSUM (ip_rcv_core)")
    // A task name with dashes: the thread id is after the last one.
    #expect(drops[3].task == "my-odd-name" && drops[3].thread == 42 && drops[3].nanoseconds == 1_000_001_000)
  }

  @Test("Evidence: a tally in order of first appearance; unavailable says nothing in the evidence")
  func evidence() {
    let drops = KernelDrop.parse(Self.trace)
    let recorded = DropEvidence.recorded([drops[1], drops[2], drops[1]], scope: "test")
    #expect(recorded.evidenceLine == "kernel drop reasons (skb:kfree_skb, test): TCP_CSUM (tcp_v4_rcv) x2, IP_CSUM (ip_rcv_core)")
    #expect(recorded.reasons == ["TCP_CSUM", "IP_CSUM"])
    #expect(DropEvidence.recorded([], scope: "test").evidenceLine == "kernel drop reasons (skb:kfree_skb, test): no drop")
    #expect(DropEvidence.unavailable("no CAP_SYS_ADMIN").evidenceLine == nil)
  }

  @Test("Malformed input never traps", arguments: ["", ":", " [", "a-1 [0] x.y: kfree_skb: ", "a-b [0] 1.2: kfree_skb: reason: ", "x-1 [0] 99999999999999999999.1: kfree_skb: "])
  func malformed(text: String) {
    _ = KernelDrop.parse(text)
  }
}
