/// `struct tcp_info` (linux/tcp.h) as the `tcpi_*` names packetdrill gives `%{ }%` blocks. Read by
/// offset from getsockopt(TCP_INFO) bytes; a field the kernel's struct is too short for is left out.
enum TCPInfo {
  private static let bytes: [(String, Int)] = [
    ("tcpi_state", 0), ("tcpi_ca_state", 1), ("tcpi_retransmits", 2), ("tcpi_probes", 3),
    ("tcpi_backoff", 4), ("tcpi_options", 5),
  ]
  private static let words: [(String, Int)] = [
    ("tcpi_rto", 8), ("tcpi_ato", 12), ("tcpi_snd_mss", 16), ("tcpi_rcv_mss", 20), ("tcpi_unacked", 24),
    ("tcpi_sacked", 28), ("tcpi_lost", 32), ("tcpi_retrans", 36), ("tcpi_fackets", 40),
    ("tcpi_last_data_sent", 44), ("tcpi_last_ack_sent", 48), ("tcpi_last_data_recv", 52),
    ("tcpi_last_ack_recv", 56), ("tcpi_pmtu", 60), ("tcpi_rcv_ssthresh", 64), ("tcpi_rtt", 68),
    ("tcpi_rttvar", 72), ("tcpi_snd_ssthresh", 76), ("tcpi_snd_cwnd", 80), ("tcpi_advmss", 84),
    ("tcpi_reordering", 88), ("tcpi_rcv_rtt", 92), ("tcpi_rcv_space", 96), ("tcpi_total_retrans", 100),
    ("tcpi_segs_out", 136), ("tcpi_segs_in", 140), ("tcpi_notsent_bytes", 144), ("tcpi_min_rtt", 148),
    ("tcpi_data_segs_in", 152), ("tcpi_data_segs_out", 156), ("tcpi_delivered", 192),
    ("tcpi_delivered_ce", 196), ("tcpi_dsack_dups", 216), ("tcpi_reord_seen", 220),
    ("tcpi_rcv_ooopack", 224), ("tcpi_snd_wnd", 228), ("tcpi_rcv_wnd", 232), ("tcpi_rehash", 236),
  ]
  private static let doubles: [(String, Int)] = [
    ("tcpi_pacing_rate", 104), ("tcpi_max_pacing_rate", 112), ("tcpi_bytes_acked", 120),
    ("tcpi_bytes_received", 128), ("tcpi_delivery_rate", 160), ("tcpi_busy_time", 168),
    ("tcpi_rwnd_limited", 176), ("tcpi_sndbuf_limited", 184), ("tcpi_bytes_sent", 200),
    ("tcpi_bytes_retrans", 208),
  ]

  static func values(_ info: [UInt8]) -> [(String, UInt64)] {
    func read(_ offset: Int, _ size: Int) -> UInt64? {
      guard offset + size <= info.count else { return nil }
      var value: UInt64 = 0
      for index in 0..<size { value |= UInt64(info[offset + index]) << (8 * index) }
      return value
    }
    var out: [(String, UInt64)] = []
    for (name, offset) in bytes { if let value = read(offset, 1) { out.append((name, value)) } }
    if let scales = read(6, 1) {
      out.append(("tcpi_snd_wscale", scales & 0x0F))
      out.append(("tcpi_rcv_wscale", scales >> 4))
    }
    for (name, offset) in words { if let value = read(offset, 4) { out.append((name, value)) } }
    for (name, offset) in doubles { if let value = read(offset, 8) { out.append((name, value)) } }
    return out
  }

  /// Python assignments, one a line, plus the constants scripts compare against.
  static func pythonAssignments(_ info: [UInt8]) -> String {
    var text = ""
    for (name, value) in values(info) { text += "\(name) = \(value)\n" }
    for (name, value) in [
      ("TCPI_OPT_TIMESTAMPS", 1), ("TCPI_OPT_SACK", 2), ("TCPI_OPT_WSCALE", 4), ("TCPI_OPT_ECN", 8),
      ("TCPI_OPT_ECN_SEEN", 16), ("TCPI_OPT_SYN_DATA", 32), ("TCPI_OPT_USEC_TS", 64), ("TCPI_OPT_TFO_CHILD", 128),
    ] {
      text += "\(name) = \(value)\n"
    }
    for (name, value) in ScriptConstants.values where name.hasPrefix("TCP_CA_") || name == "TCP_ESTABLISHED"
      || name.hasPrefix("TCP_SYN") || name.hasPrefix("TCP_FIN") || name.hasPrefix("TCP_CLOS")
      || name == "TCP_TIME_WAIT" || name == "TCP_LAST_ACK" || name == "TCP_LISTEN"
    {
      text += "\(name) = \(value)\n"
    }
    return text
  }
}
