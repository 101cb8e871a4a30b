// The tcpdump printer's IPv6 step (print-ip6.c, print-frag6.c, print-rt6.c, the non-verbose
// parts of print-icmp6.c): the fixed header, the extension-header chain, fragments, and the
// hand-over to TCP, UDP or ICMPv6. See Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: Addresses for the transport printers (IPv4 or IPv6)

  /// "ADDRESS.PORT" (IPv4 or IPv6), or the port alone after IPv6 extension headers.
  mutating func emitEndpoint(_ ip: IPContext, source: Bool, port: UInt16) {
    guard let address = source ? ip.source6 : ip.destination6 else {
      emit(address: source ? ip.source : ip.destination, port: port)
      return
    }
    if !ip.portsOnly {
      address.appendText(to: &out)
      out.append(0x2E)
    }
    emit(decimal: UInt32(port))
  }

  /// "SOURCE > DESTINATION" (IPv4 or IPv6); after IPv6 extension headers only when
  /// `evenAfterExtensions` (tcpdump's TCP printer prints them there, its UDP printer does not).
  /// Returns whether anything was printed.
  @discardableResult
  mutating func emitAddresses(_ ip: IPContext, evenAfterExtensions: Bool = false) -> Bool {
    guard let source = ip.source6, let destination = ip.destination6 else {
      emit(source: ip.source, destination: ip.destination)
      return true
    }
    guard !ip.portsOnly || evenAfterExtensions else { return false }
    source.appendText(to: &out)
    emit(" > ")
    destination.appendText(to: &out)
    return true
  }

  // MARK: IPv6 (print-ip6.c)

  mutating func ip6(at start: Int, length: Int) {
    printing(" [|ip6]") { (printer: inout Self) throws(TcpdumpTruncated) in try printer.ip6Body(at: start, length: length) }
  }

  mutating func ip6Body(at start: Int, length: Int) throws(TcpdumpTruncated) {
    guard has(start, IPv6Layout.headerLength) else { throw TcpdumpTruncated() }
    emit("IP6 ")
    let payloadLength = frame.ipv6PayloadLength(at: start)
    // Lengths come from the payload length (as tcpdump's do); the captured end stays the limit.
    var total = length
    if payloadLength != 0 {
      total = payloadLength + IPv6Layout.headerLength
      if total > length {
        emit(text: "truncated-ip6 - \(total - length) bytes missing!")
      }
    }
    let savedSnap = snapEnd
    snapEnd = min(snapEnd, start + total)
    defer { snapEnd = savedSnap }
    let source = frame.ipv6Source(at: start)
    let destination = frame.ipv6Destination(at: start)
    var next = frame.ipv6NextHeader(at: start)
    var offset = start + IPv6Layout.headerLength
    let end = start + total
    // Addresses first unless TCP or UDP follows directly (they print them with the ports).
    if next != 6 && next != 17 {
      source.appendText(to: &out)
      emit(" > ")
      destination.appendText(to: &out)
      emit(": ")
    }
    var context = IPContext(start: start, source: 0, destination: 0, proto: next, source6: source, destination6: destination)
    var headers = 0
    while headers < 64 {
      headers += 1
      switch next {
      case 0, 60:
        guard has(offset + IPv6ExtensionLayout.headerExtensionLength, 1),
          has(offset, frame.ipv6ExtensionHeaderLength(at: offset))
        else {
          emit(next == 0 ? " [|hbhopt]" : " [|dstopt]")
          return
        }
        emit(next == 0 ? "HBH " : "DSTOPT ")
        let headerLength = frame.ipv6ExtensionHeaderLength(at: offset)
        next = frame.u8(offset + IPv6ExtensionLayout.nextHeader)
        offset += headerLength
      case 43:
        guard has(offset + IPv6ExtensionLayout.nextHeader, 1) else { throw TcpdumpTruncated() }
        let headerLength = frame.ipv6ExtensionHeaderLength(at: offset)
        guard routing6(at: offset, headerLength: headerLength) else { return }
        next = frame.u8(offset + IPv6ExtensionLayout.nextHeader)
        offset += headerLength
      case 44:
        // Non-verbose tcpdump needs only the offset field; it stops quietly when nothing of the
        // fragment's data was captured.
        guard has(offset + IPv6ExtensionLayout.fragmentOffsetAndFlags, 2) else {
          emit(" [|frag6]")
          return
        }
        let fragmentOffset = Int(frame.u16(offset + IPv6ExtensionLayout.fragmentOffsetAndFlags) & 0xFFF8)
        emit("frag (")
        emit(decimal: fragmentOffset)
        emit(byte: 0x7C)
        emit(decimal: max(0, end - offset - IPv6ExtensionLayout.fragmentHeaderLength))
        emit(")")
        guard fragmentOffset == 0 else { return }
        emit(byte: 0x20)
        let afterFragmentHeader = offset + IPv6ExtensionLayout.fragmentHeaderLength
        guard has(offset, IPv6ExtensionLayout.fragmentHeaderLength), has(afterFragmentHeader, 1) else { return }
        next = frame.u8(offset + IPv6ExtensionLayout.nextHeader)
        offset = afterFragmentHeader
      default:
        context.proto = next
        context.portsOnly = offset != start + IPv6Layout.headerLength
        let upperLength = max(0, end - offset)
        switch next {
        case 6: tcp(at: offset, length: upperLength, context)
        case 17: udp(at: offset, length: upperLength, context, fragmented: false)
        case 58: icmp6(at: offset, length: upperLength)
        case 59: return
        default:
          emit(" ip-proto-")
          emit(decimal: UInt32(next))
          emit(byte: 0x20)
          emit(decimal: upperLength)
        }
        return
      }
    }
  }

  /// A Routing header (print-rt6.c, non-verbose): "RT6 (len=N, type=T, segleft=S, [0]addr, ...) ",
  /// cut with " [|rt6]" where the capture ends. Returns whether it was whole.
  mutating func routing6(at start: Int, headerLength: Int) -> Bool {
    emit("RT6 ")
    guard has(start + IPv6ExtensionLayout.headerExtensionLength, 1) else {
      emit("[|rt6]")
      return false
    }
    let extensionLength = frame.u8(start + IPv6ExtensionLayout.headerExtensionLength)
    emit("(len=")
    emit(decimal: UInt32(extensionLength))
    guard rt6Has(start + IPv6ExtensionLayout.routingType, 1) else { return false }
    let type = frame.u8(start + IPv6ExtensionLayout.routingType)
    emit(", type=")
    emit(decimal: UInt32(type))
    if type == 0 { emit(" [Deprecated]") }
    guard rt6Has(start + IPv6ExtensionLayout.segmentsLeft, 1) else { return false }
    emit(", segleft=")
    emit(decimal: UInt32(frame.u8(start + IPv6ExtensionLayout.segmentsLeft)))
    var count = 0
    switch type {
    case 0, 2:
      guard rt6Has(start + IPv6ExtensionLayout.routingData, 4) else { return false }
      count = Int(extensionLength) / 2
    case 4:
      guard rt6Has(start + IPv6ExtensionLayout.lastEntry, 1) else { return false }
      let lastEntry = frame.u8(start + IPv6ExtensionLayout.lastEntry)
      emit(", last-entry=")
      emit(decimal: UInt32(lastEntry))
      guard rt6Has(start + IPv6ExtensionLayout.segmentRoutingTag, 2) else { return false }
      emit(", tag=")
      emit(hex: UInt32(frame.u16(start + IPv6ExtensionLayout.segmentRoutingTag)), width: 1)
      count = Int(lastEntry) + 1
    default:
      emit(") ")
      return has(start, headerLength)
    }
    for index in 0..<count {
      let at = start + IPv6ExtensionLayout.routingAddresses + IPv6Layout.addressLength * index
      guard at + IPv6Layout.addressLength <= start + headerLength, has(at, IPv6Layout.addressLength) else {
        emit(" [|rt6]")
        return false
      }
      emit(", [")
      emit(decimal: index)
      emit("]")
      frame.ipv6Address(at: at).appendText(to: &out)
    }
    emit(") ")
    return has(start, headerLength)
  }

  /// Whether `count` bytes at `offset` were captured; if not, cuts the Routing header's text
  /// with " [|rt6]".
  mutating func rt6Has(_ offset: Int, _ count: Int) -> Bool {
    if has(offset, count) { return true }
    emit(" [|rt6]")
    return false
  }

  // MARK: ICMPv6 (print-icmp6.c, non-verbose)

  mutating func icmp6(at start: Int, length: Int) {
    printing(" [|icmp6]") { (printer: inout Self) throws(TcpdumpTruncated) in try printer.icmp6Body(at: start, length: length) }
  }

  mutating func icmp6Body(at start: Int, length: Int) throws(TcpdumpTruncated) {
    let type = try get8(start + ICMPv6Layout.type)
    emit("ICMP6, ")
    // The type's name needs only the type octet; the code and the rest are checked as used.
    var code: UInt8 { frame.u8(start + ICMPv6Layout.code) }
    // (tcpdump reads a time exceeded's code unchecked: past the capture it sees 0.)
    if [1, 4].contains(type) && !has(start + ICMPv6Layout.code, 1) {
      emit(type == 1 ? "destination unreachable" : "parameter problem")
      throw TcpdumpTruncated()
    }
    switch type {
    case 1:
      emit("destination unreachable, ")
      let quoted = start + ICMPv6Layout.quotedPacket
      switch code {
      case 4:
        // The quoted packet's destination, protocol and destination port.
        emit("unreachable port")
        guard has(quoted, IPv6Layout.headerLength) else { throw TcpdumpTruncated() }
        var next = frame.ipv6NextHeader(at: quoted)
        var at = quoted + IPv6Layout.headerLength
        var hops = 0
        while (next == 0 || next == 43 || next == 60), hops < 16 {
          hops += 1
          _ = try get8(at + IPv6ExtensionLayout.headerExtensionLength)
          let headerLength = frame.ipv6ExtensionHeaderLength(at: at)
          next = try get8(at + IPv6ExtensionLayout.nextHeader)
          at += headerLength
        }
        let port = try get16(at + TCPLayout.destinationPort)  // UDP's is at the same offset
        emit(", ")
        frame.ipv6Destination(at: quoted).appendText(to: &out)
        switch next {
        case 6: emit(" tcp port ")
        case 17: emit(" udp port ")
        default:
          emit(" protocol ")
          emit(decimal: UInt32(next))
          emit(" port ")
        }
        emit(decimal: UInt32(port))
      case 0, 1, 2, 3:
        guard has(quoted + IPv6Layout.destinationAddress, IPv6Layout.addressLength) else { throw TcpdumpTruncated() }
        emit(["unreachable route ", "unreachable prohibited ", "beyond scope ", "unreachable address "][Int(code)])
        frame.ipv6Destination(at: quoted).appendText(to: &out)
      default:
        emit("unknown unreach code (")
        emit(decimal: UInt32(code))
        emit(")")
      }
    case 2:
      emit("packet too big")
      guard has(start + ICMPv6Layout.mtu, 4) else { throw TcpdumpTruncated() }
      emit(", mtu ")
      emit(decimal: frame.u32(start + ICMPv6Layout.mtu))
    case 3:
      if code == 0 {
        emit("time exceeded in-transit")
        let quoted = start + ICMPv6Layout.quotedPacket
        guard has(quoted + IPv6Layout.destinationAddress, IPv6Layout.addressLength) else { throw TcpdumpTruncated() }
        emit(" for ")
        frame.ipv6Destination(at: quoted).appendText(to: &out)
      } else if code == 1 {
        emit("time exceeded reassembly")
      } else {
        emit("time exceeded-#")
        emit(decimal: UInt32(code))
      }
    case 4:
      // tcpdump wants the quoted packet's addresses captured before saying more.
      emit("parameter problem")
      let quoted = start + ICMPv6Layout.quotedPacket
      guard has(start + ICMPv6Layout.pointer, 4),
        has(quoted + IPv6Layout.destinationAddress, IPv6Layout.addressLength)
      else {
        throw TcpdumpTruncated()
      }
      emit(", ")
      let pointer = frame.u32(start + ICMPv6Layout.pointer)
      switch code {
      case 0: emit("errorneous - octet ")
      case 1: emit("next header - octet ")
      case 2: emit("option - octet ")
      default:
        emit("code-#")
        emit(decimal: UInt32(code))
        emit(byte: 0x20)
      }
      emit(decimal: pointer)
    case 128, 129:
      emit(type == 128 ? "echo request" : "echo reply")
      guard has(start + ICMPv6Layout.identifier, 4) else { throw TcpdumpTruncated() }
      emit(", id ")
      emit(decimal: UInt32(try get16(start + ICMPv6Layout.identifier)))
      emit(", seq ")
      emit(decimal: UInt32(try get16(start + ICMPv6Layout.sequenceNumber)))
    case 135, 136:
      emit(type == 135 ? "neighbor solicitation" : "neighbor advertisement")
      guard has(start + ICMPv6Layout.targetAddress, IPv6Layout.addressLength) else { throw TcpdumpTruncated() }
      emit(type == 135 ? ", who has " : ", tgt is ")
      frame.ipv6Address(at: start + ICMPv6Layout.targetAddress).appendText(to: &out)
    case 133: emit("router solicitation")
    case 134: emit("router advertisement")
    case 137: emit("redirect")
    default:
      emit("unknown icmp6 type (")
      emit(decimal: UInt32(type))
      emit(")")
    }
    emit(", length ")
    emit(decimal: length)
  }
}
