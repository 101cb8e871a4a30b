// The tcpdump printer's ICMP step (print-icmp.c), quoted datagrams included. See
// Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: ICMP (print-icmp.c)

  mutating func icmp(at start: Int, length: Int) {
    printing(" [|icmp]") { (printer: inout Self) throws(TcpdumpTruncated) in
      printer.emit(text: "ICMP \(try printer.icmpText(at: start)), length \(length)")
    }
  }

  func icmpText(at start: Int) throws(TcpdumpTruncated) -> String {
    let type = try get8(start + ICMPv4Layout.type)
    let code = try get8(start + ICMPv4Layout.code)
    switch type {
    case 0, 8:
      let id = try get16(start + ICMPv4Layout.identifier)
      return "echo \(type == 8 ? "request" : "reply"), id \(id), seq \(try get16(start + ICMPv4Layout.sequenceNumber))"
    case 3:
      // The quoted datagram's destination, protocol and (for a port) transport header.
      let quoted = start + ICMPv4Layout.quotedDatagram
      let quotedDestination = quoted + IPv4Layout.destinationAddress
      let quotedProtocol = quoted + IPv4Layout.protocol
      switch code {
      case 0: return "net \(try address(quotedDestination)) unreachable"
      case 1: return "host \(try address(quotedDestination)) unreachable"
      case 2: return "\(try address(quotedDestination)) protocol \(try get8(quotedProtocol)) unreachable"
      case 3:
        let headerLength = Int(try get8(quoted + IPv4Layout.versionAndIHL) & 0x0F) * 4
        let port = try get16(quoted + headerLength + UDPLayout.destinationPort)  // TCP's is at the same offset
        let proto = try get8(quotedProtocol)
        let destination = try address(quotedDestination)
        switch proto {
        case 6: return "\(destination) tcp port \(port) unreachable"
        case 17: return "\(destination) udp port \(port) unreachable"
        default: return "\(destination) protocol \(proto) port \(port) unreachable"
        }
      case 4:
        let mtu = try get16(start + ICMPv4Layout.nextHopMTU)
        let destination = try address(quotedDestination)
        return mtu != 0
          ? "\(destination) unreachable - need to frag (mtu \(mtu))"
          : "\(destination) unreachable - need to frag"
      default:
        let destination = try address(quotedDestination)
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
      let destination = try address(start + ICMPv4Layout.quotedDatagram + IPv4Layout.destinationAddress)
      let gateway = try address(start + ICMPv4Layout.gateway)
      switch code {
      case 0: return "redirect \(destination) to net \(gateway)"
      case 1: return "redirect \(destination) to host \(gateway)"
      case 2: return "redirect-tos \(destination) to net \(gateway)"
      case 3: return "redirect-tos \(destination) to host \(gateway)"
      default: return "redirect-#\(code) \(destination) to \(gateway)"
      }
    case 11:
      _ = try get32(start + ICMPv4Layout.quotedDatagram + IPv4Layout.destinationAddress)
      switch code {
      case 0: return "time exceeded in-transit"
      case 1: return "ip reassembly time exceeded"
      default: return "time exceeded-#\(code)"
      }
    case 12:
      guard code == 0 else { return "parameter problem - code \(code)" }
      return "parameter problem - octet \(try get8(start + ICMPv4Layout.pointer))"
    case 18:
      return "address mask is 0x\(Fmt.hex(try get32(start + ICMPv4Layout.addressMask), width: 8))"
    case 13:
      let id = try get16(start + ICMPv4Layout.identifier)
      return "time stamp query id \(id) seq \(try get16(start + ICMPv4Layout.sequenceNumber))"
    case 14:
      let id = try get16(start + ICMPv4Layout.identifier)
      let head = "time stamp reply id \(id) seq \(try get16(start + ICMPv4Layout.sequenceNumber))"
      return head + ": org \(Self.timeOfDay(try get32(start + ICMPv4Layout.originateTimestamp)))"
        + ", recv \(Self.timeOfDay(try get32(start + ICMPv4Layout.receiveTimestamp)))"
        + ", xmit \(Self.timeOfDay(try get32(start + ICMPv4Layout.transmitTimestamp)))"
    case 4: return "source quench"
    case 9:
      // tcpdump builds this text in a 164-byte buffer: longer text is cut at 163 characters.
      var text = "router advertisement lifetime "
      _ = try get32(start + ICMPv4Layout.restOfHeader)
      let lifetime = UInt32(frame.u16(start + ICMPv4Layout.lifetime))
      func two(_ value: UInt32) -> String { value < 10 ? "0\(value)" : "\(value)" }
      if lifetime < 60 {
        text += "\(lifetime)"
      } else if lifetime < 3600 {
        text += "\(lifetime / 60):\(two(lifetime % 60))"
      } else {
        text += "\(lifetime / 3600):\(two(lifetime % 3600 / 60)):\(two(lifetime % 60))"
      }
      let count = Int(frame.u8(start + ICMPv4Layout.addressCount))
      text += " \(count):"
      let size = frame.u8(start + ICMPv4Layout.addressEntrySize)
      if size != 2 {
        text += " [size \(size)]"
      } else {
        for entry in 0..<count {
          let offset = start + ICMPv4Layout.routerEntries + entry * ICMPv4Layout.routerEntryLength
          _ = try get32(offset + ICMPv4Layout.routerPreference)
          text += " {\(try address(offset)) \(frame.u32(offset + ICMPv4Layout.routerPreference))}"
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
