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

  /// "SOURCE > DESTINATION" (nothing after IPv6 extension headers, which printed them).
  mutating func emitAddresses(_ ip: IPContext) {
    guard let source = ip.source6, let destination = ip.destination6 else {
      emit(source: ip.source, destination: ip.destination)
      return
    }
    guard !ip.portsOnly else { return }
    source.appendText(to: &out)
    emit(" > ")
    destination.appendText(to: &out)
  }

  // MARK: IPv6 (print-ip6.c)

  mutating func ip6(at start: Int, length: Int) {
    do {
      try ip6Body(at: start, length: length)
    } catch {
      emit(" [|ip6]")
    }
  }

  mutating func ip6Body(at start: Int, length: Int) throws(TcpdumpTruncated) {
    guard has(start, 40) else {
      emit("IP6 ")
      throw TcpdumpTruncated()
    }
    emit("IP6 ")
    let payloadLength = Int(frame.u16(start + 4))
    var total = length
    if payloadLength != 0 {
      total = payloadLength + 40
      if total > length {
        emit(text: "truncated-ip6 - \(total - length) bytes missing!")
        total = length
      }
    }
    let savedSnap = snapEnd
    snapEnd = min(snapEnd, start + total)
    defer { snapEnd = savedSnap }
    let source = IPv6Address(
      high: UInt64(frame.u32(start + 8)) << 32 | UInt64(frame.u32(start + 12)),
      low: UInt64(frame.u32(start + 16)) << 32 | UInt64(frame.u32(start + 20)))
    let destination = IPv6Address(
      high: UInt64(frame.u32(start + 24)) << 32 | UInt64(frame.u32(start + 28)),
      low: UInt64(frame.u32(start + 32)) << 32 | UInt64(frame.u32(start + 36)))
    var next = frame.u8(start + 6)
    var offset = start + 40
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
        emit(next == 0 ? "HBH " : "DSTOPT ")
        let headerLength = (Int(try get8(offset + 1)) + 1) * 8
        guard has(offset, headerLength) else { throw TcpdumpTruncated() }
        next = frame.u8(offset)
        offset += headerLength
      case 43:
        let headerLength = (Int(try get8(offset + 1)) + 1) * 8
        try routing6(at: offset, headerLength: headerLength)
        next = frame.u8(offset)
        offset += headerLength
      case 44:
        guard has(offset, 8) else { throw TcpdumpTruncated() }
        let fragmentOffset = Int(frame.u16(offset + 2) & 0xFFF8)
        emit("frag (")
        emit(decimal: fragmentOffset)
        emit(byte: 0x7C)
        emit(decimal: max(0, end - offset - 8))
        emit(")")
        guard fragmentOffset == 0 else { return }
        emit(byte: 0x20)
        next = frame.u8(offset)
        offset += 8
      default:
        context.proto = next
        context.portsOnly = offset != start + 40
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

  /// A Routing header (print-rt6.c, non-verbose): "RT6 (len=N, type=T, segleft=S, [0]addr, ...) ".
  mutating func routing6(at start: Int, headerLength: Int) throws(TcpdumpTruncated) {
    let extensionLength = try get8(start + 1)
    let type = try get8(start + 2)
    let segmentsLeft = try get8(start + 3)
    emit("RT6 (len=")
    emit(decimal: UInt32(extensionLength))
    emit(", type=")
    emit(decimal: UInt32(type))
    if type == 0 { emit(" [Deprecated]") }
    emit(", segleft=")
    emit(decimal: UInt32(segmentsLeft))
    var count = 0
    switch type {
    case 0, 2:
      count = Int(extensionLength) / 2
    case 4:
      let lastEntry = try get8(start + 4)
      emit(", last-entry=")
      emit(decimal: UInt32(lastEntry))
      emit(", tag=")
      emit(hex: UInt32(try get16(start + 6)), width: 1)
      count = Int(lastEntry) + 1
    default:
      emit(")")
      emit(byte: 0x20)
      return
    }
    for index in 0..<count {
      let at = start + 8 + 16 * index
      guard has(at, 16), at + 16 <= start + headerLength else { throw TcpdumpTruncated() }
      emit(", [")
      emit(decimal: index)
      emit("]")
      address6(at: at).appendText(to: &out)
    }
    emit(") ")
  }

  func address6(at offset: Int) -> IPv6Address {
    IPv6Address(
      high: UInt64(frame.u32(offset)) << 32 | UInt64(frame.u32(offset + 4)),
      low: UInt64(frame.u32(offset + 8)) << 32 | UInt64(frame.u32(offset + 12)))
  }

  // MARK: ICMPv6 (print-icmp6.c, non-verbose)

  mutating func icmp6(at start: Int, length: Int) {
    do {
      try icmp6Body(at: start, length: length)
    } catch {
      emit(" [|icmp6]")
    }
  }

  mutating func icmp6Body(at start: Int, length: Int) throws(TcpdumpTruncated) {
    let type = try get8(start)
    let code = try get8(start + 1)
    emit("ICMP6, ")
    switch type {
    case 1:
      emit("destination unreachable, ")
      let quoted = start + 8
      switch code {
      case 4:
        // The quoted packet's destination, protocol and destination port.
        guard has(quoted, 40) else { throw TcpdumpTruncated() }
        var next = frame.u8(quoted + 6)
        var at = quoted + 40
        var hops = 0
        while (next == 0 || next == 43 || next == 60), hops < 16 {
          hops += 1
          let headerLength = (Int(try get8(at + 1)) + 1) * 8
          next = try get8(at)
          at += headerLength
        }
        let port = try get16(at + 2)
        emit("unreachable port, ")
        address6(at: quoted + 24).appendText(to: &out)
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
        guard has(quoted + 24, 16) else { throw TcpdumpTruncated() }
        emit(["unreachable route ", "unreachable prohibited ", "beyond scope ", "unreachable address "][Int(code)])
        address6(at: quoted + 24).appendText(to: &out)
      default:
        emit("unknown unreach code (")
        emit(decimal: UInt32(code))
        emit(")")
      }
    case 2:
      emit("packet too big, mtu ")
      emit(decimal: try get32(start + 4))
    case 3:
      if code == 0 {
        emit("time exceeded in-transit")
        guard has(start + 8 + 24, 16) else { throw TcpdumpTruncated() }
        emit(" for ")
        address6(at: start + 8 + 24).appendText(to: &out)
      } else if code == 1 {
        emit("time exceeded reassembly")
      } else {
        emit("time exceeded-#")
        emit(decimal: UInt32(code))
      }
    case 4:
      let pointer = try get32(start + 4)
      switch code {
      case 0: emit("parameter problem, errorneous - octet ")
      case 1: emit("parameter problem, next header - octet ")
      case 2: emit("parameter problem, option - octet ")
      default:
        emit("parameter problem, code-#")
        emit(decimal: UInt32(code))
        emit(byte: 0x20)
      }
      emit(decimal: pointer)
    case 128, 129:
      emit(type == 128 ? "echo request, id " : "echo reply, id ")
      emit(decimal: UInt32(try get16(start + 4)))
      emit(", seq ")
      emit(decimal: UInt32(try get16(start + 6)))
    case 135, 136:
      guard has(start + 8, 16) else { throw TcpdumpTruncated() }
      emit(type == 135 ? "neighbor solicitation, who has " : "neighbor advertisement, tgt is ")
      address6(at: start + 8).appendText(to: &out)
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
