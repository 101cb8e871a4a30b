// The tcpdump printer's link-layer step (tcpdump -nn -S -t, no -e): which header the frame
// starts with, VLAN tags skipped, ARP lines, and the hand-over to IPv4. See Format/Summary.swift.

extension TcpdumpPrinter {
  mutating func printFrame(linkType: LinkType) {
    let length = frame.count
    switch linkType {
    case .ethernet:
      guard length >= EthernetLayout.headerLength else {
        emit(" [|ether]")
        return
      }
      var etherType = frame.ethernetType()
      var start = EthernetLayout.headerLength
      // 802.1Q / 802.1ad tags: tcpdump shows them only with -e.
      while Dissector.isVLAN(etherType) {
        guard length >= start + EthernetLayout.vlanTagLength else {
          emit(" [|vlan]")
          return
        }
        etherType = frame.vlanEtherType(at: start)
        start += EthernetLayout.vlanTagLength
      }
      if etherType == 0x0800 {
        ip(at: start, length: length - start)
      } else if etherType == 0x0806, let line = arp(at: start, length: length - start) {
        emit(text: line)
      } else if etherType == 0x86DD {
        ip6(at: start, length: length - start)
      } else {
        emit(text: 
          "\(mac(EthernetLayout.source)) > \(mac(EthernetLayout.destination)), ethertype \(etherTypeName(etherType)) (0x\(Fmt.hex(etherType, width: 4))), length \(length): ")
      }
    case .linuxSLL, .linuxSLL2:
      let header = LinuxSLLLayout.headerLength(version2: linkType == .linuxSLL2)
      guard length >= header else {
        emit(linkType == .linuxSLL ? " [|sll]" : " [|sll2]")
        return
      }
      let proto = frame.linuxSLLProtocolType(version2: linkType == .linuxSLL2)
      if linkType == .linuxSLL2 {
        // tcpdump 4.99: "%-5s %-3s " with the interface name and the packet type.
        let name = interfaceNames[frame.u32(LinuxSLLLayout.interfaceIndex)] ?? "?"
        let direction = ["In", "B", "M", "P", "Out"][safe: Int(frame.u8(LinuxSLLLayout.packetType.version2))] ?? "?"
        emit(text: Fmt.pad(name, 5) + " " + Fmt.pad(direction, 3) + " ")
      }
      if proto == 0x0800 {
        ip(at: header, length: length - header)
      } else if proto == 0x86DD {
        ip6(at: header, length: length - header)
      } else {
        emit(text: "ethertype \(etherTypeName(proto)) (0x\(Fmt.hex(proto, width: 4))), length \(length): ")
      }
    case .null:
      let header = NullLinkView.headerLength
      guard length >= header else {
        emit(" [|null]")
        return
      }
      let family = frame.nullLinkFamily()
      if family == 2 {
        ip(at: header, length: length - header)
      } else if NullLinkView.isBSDIPv6(family) {
        ip6(at: header, length: length - header)
      } else {
        emit(text: "AF \(family) \(length - header): ")
      }
    case .raw, .ipv6:
      guard length >= 1 else {
        emit("truncated-ip 0")
        return
      }
      let version = frame.ipVersion(at: 0)
      if version == 4 {
        ip(at: 0, length: length)
      } else if version == 6 {
        ip6(at: 0, length: length)
      } else {
        emit(text: "unknown ip \(version)")
      }
    case .ipv4:
      ip(at: 0, length: length)
    }
  }

  /// tcpdump's ARP line for Ethernet/IPv4 requests and replies (nil for other ARP forms).
  func arp(at start: Int, length: Int) -> String? {
    // tcpdump needs the fixed part and every address captured, else " [|arp]".
    let hardwareLength = Int(frame.u8(start + ARPLayout.hardwareAddressLength))
    let protocolLength = Int(frame.u8(start + ARPLayout.protocolAddressLength))
    guard length >= ARPLayout.fixedLength,
      length >= ARPLayout.fixedLength + 2 * hardwareLength + 2 * protocolLength
    else {
      return " [|arp]"
    }
    guard frame.u16(start + ARPLayout.hardwareType) == 1, frame.u16(start + ARPLayout.protocolType) == 0x0800,
      hardwareLength == 6, protocolLength == 4
    else { return nil }
    func ip(_ offset: Int) -> String {
      "\(frame.u8(offset)).\(frame.u8(offset + 1)).\(frame.u8(offset + 2)).\(frame.u8(offset + 3))"
    }
    let senderMAC = mac(start + ARPLayout.senderHardwareAddress)
    let senderIP = ip(start + ARPLayout.senderProtocolAddress)
    let targetIP = ip(start + ARPLayout.targetProtocolAddress)
    let targetMAC = start + ARPLayout.targetHardwareAddress
    switch frame.u16(start + ARPLayout.operation) {
    case 1:
      let targetHasMAC = (0..<6).contains { frame.u8(targetMAC + $0) != 0 }
      return "ARP, Request who-has \(targetIP)\(targetHasMAC ? " (\(mac(targetMAC)))" : "") tell \(senderIP), length \(length)"
    case 2:
      return "ARP, Reply \(senderIP) is-at \(senderMAC), length \(length)"
    default:
      return nil
    }
  }

  func mac(_ offset: Int) -> String {
    (0..<6).map { Fmt.hex(frame.u8(offset + $0), width: 2) }.joined(separator: ":")
  }

  func etherTypeName(_ type: UInt16) -> String {
    switch type {
    case 0x0806: "ARP"
    case 0x86DD: "IPv6"
    case 0x8100: "802.1Q"
    case 0x8035: "Reverse ARP"
    case 0x88CC: "LLDP"
    case 0x8847: "MPLS unicast"
    default: "Unknown"
    }
  }
}
