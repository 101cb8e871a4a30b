// The tcpdump printer's ICMP step (print-icmp.c), quoted datagrams included. See
// Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: ICMP (print-icmp.c)

  mutating func icmp(at start: Int, length: Int) {
    do {
      let text = try icmpText(at: start)
      emit(text: "ICMP \(text), length \(length)")
    } catch {
      emit(" [|icmp]")
    }
  }

  func icmpText(at start: Int) throws(TcpdumpTruncated) -> String {
    let type = try get8(start)
    let code = try get8(start + 1)
    switch type {
    case 0, 8:
      return "echo \(type == 8 ? "request" : "reply"), id \(try get16(start + 4)), seq \(try get16(start + 6))"
    case 3:
      let quoted = start + 8
      switch code {
      case 0: return "net \(try address(quoted + 16)) unreachable"
      case 1: return "host \(try address(quoted + 16)) unreachable"
      case 2: return "\(try address(quoted + 16)) protocol \(try get8(quoted + 9)) unreachable"
      case 3:
        let headerLength = Int(try get8(quoted) & 0x0F) * 4
        let port = try get16(quoted + headerLength + 2)
        let proto = try get8(quoted + 9)
        let destination = try address(quoted + 16)
        switch proto {
        case 6: return "\(destination) tcp port \(port) unreachable"
        case 17: return "\(destination) udp port \(port) unreachable"
        default: return "\(destination) protocol \(proto) port \(port) unreachable"
        }
      case 4:
        let mtu = try get16(start + 6)
        let destination = try address(quoted + 16)
        return mtu != 0
          ? "\(destination) unreachable - need to frag (mtu \(mtu))"
          : "\(destination) unreachable - need to frag"
      default:
        let destination = try address(quoted + 16)
        switch code {
        case 5: return "\(destination) unreachable - source route failed"
        case 6: return "net \(destination) unreachable - unknown"
        case 7: return "host \(destination) unreachable - unknown"
        case 8: return "\(destination) unreachable - source host isolated"
        case 9: return "net \(destination) unreachable - admin prohibited"
        case 10: return "host \(destination) unreachable - admin prohibited"
        case 11: return "net \(destination) unreachable - tos prohibited"
        case 12: return "host \(destination) unreachable - tos prohibited"
        case 13: return "host \(destination) unreachable - admin prohibited filter"
        case 14: return "host \(destination) unreachable - host precedence violation"
        case 15: return "host \(destination) unreachable - precedence cutoff"
        default: return "\(destination) unreachable - #\(code)"
        }
      }
    case 5:
      let destination = try address(start + 8 + 16)
      let gateway = try address(start + 4)
      switch code {
      case 0: return "redirect \(destination) to net \(gateway)"
      case 1: return "redirect \(destination) to host \(gateway)"
      case 2: return "redirect-tos \(destination) to net \(gateway)"
      case 3: return "redirect-tos \(destination) to host \(gateway)"
      default: return "redirect-#\(code) \(destination) to \(gateway)"
      }
    case 11:
      _ = try get32(start + 8 + 16)
      switch code {
      case 0: return "time exceeded in-transit"
      case 1: return "ip reassembly time exceeded"
      default: return "time exceeded-#\(code)"
      }
    case 12:
      return code != 0 ? "parameter problem - code \(code)" : "parameter problem - octet \(try get8(start + 4))"
    case 18:
      return "address mask is 0x\(Fmt.hex(try get32(start + 8), width: 8))"
    case 13:
      return "time stamp query id \(try get16(start + 4)) seq \(try get16(start + 6))"
    case 14:
      let head = "time stamp reply id \(try get16(start + 4)) seq \(try get16(start + 6))"
      return head + ": org \(Self.timeOfDay(try get32(start + 8)))"
        + ", recv \(Self.timeOfDay(try get32(start + 12)))"
        + ", xmit \(Self.timeOfDay(try get32(start + 16)))"
    case 4: return "source quench"
    case 9:
      // tcpdump builds this text in a 164-byte buffer: longer text is cut at 163 characters.
      var text = "router advertisement lifetime "
      _ = try get32(start + 4)
      let lifetime = UInt32(frame.u16(start + 6))
      func two(_ value: UInt32) -> String { value < 10 ? "0\(value)" : "\(value)" }
      if lifetime < 60 {
        text += "\(lifetime)"
      } else if lifetime < 3600 {
        text += "\(lifetime / 60):\(two(lifetime % 60))"
      } else {
        text += "\(lifetime / 3600):\(two(lifetime % 3600 / 60)):\(two(lifetime % 60))"
      }
      let count = Int(frame.u8(start + 4))
      text += " \(count):"
      let size = frame.u8(start + 5)
      if size != 2 {
        text += " [size \(size)]"
      } else {
        for entry in 0..<count {
          let offset = start + 8 + entry * 8
          _ = try get32(offset + 4)
          text += " {\(try address(offset)) \(frame.u32(offset + 4))}"
        }
      }
      return String(text.prefix(163))
    case 10: return "router solicitation"
    case 15: return "information request"
    case 16: return "information reply"
    case 17: return "address mask request"
    default: return "type-#\(type)"
    }
  }

  /// Milliseconds since midnight UT as tcpdump prints them ("00:00:01.000").
  /// Hours are not wrapped at 24, as tcpdump does not wrap them.
  static func timeOfDay(_ milliseconds: UInt32) -> String {
    let ms = milliseconds % 1000
    let seconds = milliseconds / 1000
    func two(_ value: UInt32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
    return "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)).\(msText)"
  }
}
