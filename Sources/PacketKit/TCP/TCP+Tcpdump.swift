// The tcpdump printer's TCP step (print-tcp.c, print-mptcp.c): ports, flags, seq/ack, window,
// every option form tcpdump names (MSS ... MD5, TCP-AO, MPTCP, Fast Open, user timeout), and the
// hand-over to the application printers. `optionText` serves `show()` too. See Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: TCP (print-tcp.c)

  mutating func tcp(at start: Int, length: Int, _ ip: IPContext) {
    do {
      try tcpBody(at: start, length: length, ip)
    } catch {
      emit(printedMPTCP ? " [|mptcp]" : " [|tcp]")
    }
  }

  mutating func tcpBody(at start: Int, length: Int, _ ip: IPContext) throws(TcpdumpTruncated) {
    guard has(start + TCPLayout.destinationPort, 2) else {
      emitAddresses(ip, evenAfterExtensions: true)
      emit(":")
      throw TcpdumpTruncated()
    }
    let sourcePort = frame.u16(start + TCPLayout.sourcePort)
    let destinationPort = frame.u16(start + TCPLayout.destinationPort)
    emitEndpoint(ip, source: true, port: sourcePort)
    emit(" > ")
    emitEndpoint(ip, source: false, port: destinationPort)
    emit(": ")
    guard has(start, TCPLayout.minimumHeaderLength) else { throw TcpdumpTruncated() }
    let headerLength = frame.tcpHeaderLength(at: start)
    if headerLength < TCPLayout.minimumHeaderLength {
      emit(" tcp ")
      emit(decimal: UInt32(truncatingIfNeeded: length &- headerLength))
      emit(" [bad hdr length ")
      emit(decimal: headerLength)
      emit(" - too short, < 20]")
      return
    }
    let seq = frame.u32(start + TCPLayout.sequenceNumber)
    let ack = frame.u32(start + TCPLayout.acknowledgmentNumber)
    let window = frame.u16(start + TCPLayout.window)
    let urgent = frame.u16(start + TCPLayout.urgentPointer)
    let flags = frame.u8(start + TCPLayout.flags)
    emit("Flags [")
    TCPFlags(rawValue: UInt16(flags)).appendTcpdumpLetters(to: &out)
    emit("]")
    if headerLength > length {
      emit(" [bad hdr length ")
      emit(decimal: headerLength)
      emit(" - too long, > ")
      emit(decimal: length)
      emit("]")
      return
    }
    let dataLength = length - headerLength
    if dataLength > 0 || flags & 0x07 != 0 {
      emit(", seq ")
      emit(decimal: seq)
      if dataLength > 0 {
        emit(byte: 0x3A)
        emit(decimal: seq &+ UInt32(truncatingIfNeeded: dataLength))
      }
    }
    if flags & 0x10 != 0 {
      emit(", ack ")
      emit(decimal: ack)
    }
    emit(", win ")
    emit(decimal: UInt32(window))
    if flags & 0x20 != 0 {
      emit(", urg ")
      emit(decimal: UInt32(urgent))
    }
    if headerLength > TCPLayout.minimumHeaderLength {
      emit(", options [")
      let complete = try tcpOptions(
        at: start + TCPLayout.options, length: headerLength - TCPLayout.options, segmentStart: start,
        segmentLength: length, tcpFlags: flags)
      guard complete else { return }
      emit("]")
    }
    emit(", length ")
    emit(decimal: dataLength)
    if dataLength > 0 {
      try requireHeader(at: start, length: headerLength)
      application(at: start + headerLength, length: dataLength, sourcePort, destinationPort)
    }
  }

  /// tcpdump's text for one well-formed TCP option (`bytes`: kind, length and data), as inside
  /// its "options [...]" list: e.g. "mss 1460", "mptcp 12 capable v1 {0x...}", "unknown-99 0x01".
  /// `tcpFlags` matter to MPTCP. `show()` lists options with it, so both say the same.
  static func optionText(_ bytes: [UInt8], tcpFlags: UInt8) -> String {
    bytes.withUnsafeBytes { raw in
      var printer = TcpdumpPrinter(ByteCursor(raw))
      _ = try? printer.tcpOptions(
        at: 0, length: raw.count, segmentStart: 0, segmentLength: raw.count, tcpFlags: tcpFlags)
      return String(decoding: printer.out, as: UTF8.self)
    }
  }

  /// tcpdump's name for a TCP option kind (print-tcp.c's `tcp_option_values`), `nil` for kinds
  /// it calls "unknown-N".
  static func tcpOptionName(_ kind: UInt8) -> StaticString? {
    switch kind {
    case 0: "eol"
    case 1: "nop"
    case 2: "mss"
    case 3: "wscale"
    case 4: "sackOK"
    case 5: "sack"
    case 6: "echo"
    case 7: "echoreply"
    case 8: "TS"
    case 11: "cc"
    case 12: "ccnew"
    case 13: ""
    case 19: "md5"
    case 20: "scps"
    case 28: "uto"
    case 29: "tcp-ao"
    case 30: "mptcp"
    case 34: "tfo"
    case 254: "exp"
    default: nil
    }
  }

  /// Prints the options; returns `false` after "[bad opt]" (the line then ends there).
  ///
  /// Each option is classified by `OptionScanner.step`, the rule every option consumer uses. Two
  /// things are tcpdump's own: the kind and length octets must be captured (else "[|tcp]") before
  /// the rule is applied to the header's options area (a malformed option is "[bad opt]"), and
  /// the next option starts after the data tcpdump read for this kind, not after the length
  /// octet's count (an MSS of length 6 prints "[len 6]" and its last two bytes as the next option).
  mutating func tcpOptions(
    at start: Int, length: Int, segmentStart: Int, segmentLength: Int, tcpFlags: UInt8
  ) throws(TcpdumpTruncated) -> Bool {
    let end = start + length
    var next = start
    var separator = false
    while next < end {
      if separator { emit(byte: 0x2C) }
      // The fields are read from the option's start; `cursor` is past kind and length.
      let option = next
      let kind = try get8(option + TCPOptionLayout.kind)
      if kind > 1 { _ = try get8(option + TCPOptionLayout.length) }
      let frame = self.frame
      guard case .option(_, let optionLength) = OptionScanner.step(at: option, end: end, byte: { frame.u8($0) })
      else { return badOption(separator) }
      let cursor = option + (kind > 1 ? 2 : 1)  // EOL and NOP are the kind octet alone
      // Option bytes left after kind and length (tcpdump's `hlen`).
      let remaining = end - cursor
      var dataLength = 0
      if let name = Self.tcpOptionName(kind) {
        emit(name)
      } else {
        emit("unknown-")
        emit(decimal: UInt32(kind))
      }
      // LENCHECK: enough option bytes left, and captured. Past the captured end tcpdump jumps to
      // its "trunc" label, which closes the list with ">" once an option was printed.
      var cutInsideOption = false
      func lenCheck(_ needed: Int) throws(TcpdumpTruncated) -> Bool {
        guard needed <= remaining else { return false }
        guard has(cursor, needed) else {
          cutInsideOption = true
          throw TcpdumpTruncated()
        }
        return true
      }
      do {
      switch kind {
      case 2:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        emit(byte: 0x20)
        emit(decimal: UInt32(frame.u16(option + TCPOptionLayout.data)))
      case 3:
        dataLength = 1
        guard try lenCheck(1) else { return badOption(separator) }
        emit(byte: 0x20)
        emit(decimal: UInt32(frame.u8(option + TCPOptionLayout.data)))
      case 5:
        dataLength = optionLength - 2
        if dataLength % TCPOptionLayout.sackBlockLength != 0 {
          emit(" invalid sack")
        } else {
          emit(byte: 0x20)
          emit(decimal: dataLength / TCPOptionLayout.sackBlockLength)
          emit(byte: 0x20)
          var index = 0
          while index < dataLength {
            let block = option + TCPOptionLayout.data + index
            guard try lenCheck(index + TCPOptionLayout.sackRightEdge) else { return badOption(separator) }
            let first = frame.u32(block)
            guard try lenCheck(index + TCPOptionLayout.sackBlockLength) else { return badOption(separator) }
            let second = frame.u32(block + TCPOptionLayout.sackRightEdge)
            emit(byte: 0x7B)
            emit(decimal: first)
            emit(byte: 0x3A)
            emit(decimal: second)
            emit(byte: 0x7D)
            index += TCPOptionLayout.sackBlockLength
          }
        }
      case 6, 7, 11, 12, 13:
        dataLength = 4
        guard try lenCheck(4) else { return badOption(separator) }
        emit(byte: 0x20)
        emit(decimal: frame.u32(option + TCPOptionLayout.data))
      case 8:
        dataLength = 8
        guard try lenCheck(8) else { return badOption(separator) }
        emit(" val ")
        emit(decimal: frame.u32(option + TCPOptionLayout.timestampValue))
        emit(" ecr ")
        emit(decimal: frame.u32(option + TCPOptionLayout.timestampEchoReply))
      case 19:
        dataLength = 16
        guard try lenCheck(16) else { return badOption(separator) }
        // tcpdump first needs the whole segment to check a signature.
        emit(has(segmentStart, segmentLength) ? " shared secret not supplied with -M, can't check - " : " snaplen too short, can't check - ")
        emit(hexBytes: option + TCPOptionLayout.data, count: 16)
      case 20:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        emit(" cap ")
        emit(hex: UInt32(frame.u8(option + TCPOptionLayout.scpsCapabilities)), width: 2)
        emit(" id ")
        emit(decimal: UInt32(frame.u8(option + TCPOptionLayout.scpsConnectionID)))
      case 29:
        dataLength = optionLength - 2
        if dataLength < 2 {
          emit(" (invalid)")
        } else {
          guard try lenCheck(1) else { return badOption(separator) }
          emit(" keyid ")
          emit(decimal: UInt32(frame.u8(option + TCPOptionLayout.authenticationKeyID)))
          guard try lenCheck(2) else { return badOption(separator) }
          emit(" rnextkeyid ")
          emit(decimal: UInt32(frame.u8(option + TCPOptionLayout.authenticationNextKeyID)))
          if dataLength > 2 {
            emit(" mac 0x")
            for index in 2..<dataLength {
              guard try lenCheck(index + 1) else { return badOption(separator) }
              emit(hex: UInt32(frame.u8(option + TCPOptionLayout.data + index)), width: 2)
            }
          }
        }
      case 0, 1, 4:
        break
      case 28:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        var value = UInt32(frame.u16(option + TCPOptionLayout.data))
        emit(" 0x")
        emit(hex: value, width: 1)
        value = value & 1 != 0 ? (value >> 1) * 60 : value >> 1
        emit(byte: 0x20)
        emit(decimal: value)
      case 30:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        guard mptcp(at: option, length: optionLength, tcpFlags: tcpFlags) else {
          return badOption(separator)
        }
      case 34:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        emit(byte: 0x20)
        fastOpen(option + TCPOptionLayout.data, dataLength)
      case 254:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        guard dataLength >= 2 else { return badOption(separator) }
        let magic = frame.u16(option + TCPOptionLayout.experimentID)
        emit(byte: 0x2D)
        if magic == 0xF989 {
          let cookie = TCPOptionLayout.experimentData
          fastOpen(option + cookie, optionLength - cookie, experimental: true)
        } else {
          emit(hex: UInt32(magic), width: 4)
        }
      default:
        dataLength = optionLength - 2
        if dataLength > 0 { emit(" 0x") }
        for index in 0..<max(0, dataLength) {
          guard try lenCheck(index + 1) else { return badOption(separator) }
          emit(hex: UInt32(frame.u8(option + TCPOptionLayout.data + index)), width: 2)
        }
      }
      } catch {
        guard cutInsideOption else { throw error }
        emit(printedMPTCP ? " [|mptcp]" : " [|tcp]")
        if separator { emit(">") }
        return false
      }
      next = cursor + dataLength
      if cursor - option + dataLength != optionLength {
        emit("[len ")
        emit(decimal: optionLength)
        emit("]")
      }
      separator = true
      if kind == 0 { break }
    }
    return true
  }

  /// An MPTCP option (RFC 8684) as tcpdump prints it without -v (print-mptcp.c): its length,
  /// the subtype's name and the subtype's fields; `false` when tcpdump calls it "[bad opt]" (a
  /// length the subtype does not have, or one that does not fit the segment's flags). The whole
  /// option (`length` bytes from `start`) is captured.
  mutating func mptcp(at start: Int, length: Int, tcpFlags: UInt8) -> Bool {
    guard length >= 3 else { return false }
    printedMPTCP = true
    let syn = tcpFlags & 0x02 != 0
    let ack = tcpFlags & 0x10 != 0
    let subtype = frame.u8(start + TCPOptionLayout.mptcpSubtype) >> 4
    emit(byte: 0x20)
    emit(decimal: length)
    switch subtype {
    case 0:
      emit(" capable")
      guard ((length == 12 || length == 4) && syn) || ((length == 20 || length == 22) && ack && !syn) else {
        return false
      }
      let version = frame.u8(start + TCPOptionLayout.mptcpSubtype) & 0x0F
      guard version <= 1 else {
        emit(" Unknown Version (")
        emit(decimal: UInt32(version))
        emit(")")
        return true
      }
      emit(" v")
      emit(decimal: UInt32(version))
      if frame.u8(start + TCPOptionLayout.mptcpFlagsOrAddressID) & 0x80 != 0 { emit(" csum") }
      if length == 12 || length >= 20 {
        emit(" {0x")
        emit(hex: frame.u64(start + TCPOptionLayout.mptcpFields), width: 1)
        if length >= 20 {
          emit(",0x")
          emit(hex: frame.u64(start + TCPOptionLayout.mptcpReceiverKey), width: 1)
        }
        emit("}")
      }
    case 1:
      emit(" join")
      guard (length == 12 && syn) || (length == 16 && syn && ack) || (length == 24 && ack) else { return false }
      if length != 24 {
        if frame.u8(start + TCPOptionLayout.mptcpSubtype) & 0x01 != 0 { emit(" backup") }
        emit(" id ")
        emit(decimal: UInt32(frame.u8(start + TCPOptionLayout.mptcpFlagsOrAddressID)))
      }
      switch length {
      case 12:
        emit(" token 0x")
        emit(hex: frame.u32(start + TCPOptionLayout.mptcpFields), width: 1)
        emit(" nonce 0x")
        emit(hex: frame.u32(start + TCPOptionLayout.mptcpJoinSynNonce), width: 1)
      case 16:
        emit(" hmac 0x")
        emit(hex: frame.u64(start + TCPOptionLayout.mptcpFields), width: 1)
        emit(" nonce 0x")
        emit(hex: frame.u32(start + TCPOptionLayout.mptcpJoinSynAckNonce), width: 1)
      default:
        emit(" hmac 0x")
        emit(hexBytes: start + TCPOptionLayout.mptcpFields, count: 20)
      }
    case 2:
      emit(" dss")
      guard length >= TCPOptionLayout.mptcpFields, !syn else { return false }
      let dssFlags = frame.u8(start + TCPOptionLayout.mptcpFlagsOrAddressID)
      if dssFlags & 0x10 != 0 { emit(" fin") }
      var at = start + TCPOptionLayout.mptcpFields
      var left = length - TCPOptionLayout.mptcpFields
      // A 4- or 8-byte number (the wide form when `wide`), or `nil` when too few bytes are left.
      func number(wide: Bool) -> UInt64? {
        let size = wide ? 8 : 4
        guard left >= size else { return nil }
        defer {
          at += size
          left -= size
        }
        return wide ? frame.u64(at) : UInt64(frame.u32(at))
      }
      if dssFlags & 0x01 != 0 {
        emit(" ack ")
        guard let value = number(wide: dssFlags & 0x02 != 0) else { return false }
        emit(decimal64: value)
      }
      if dssFlags & 0x04 != 0 {
        emit(" seq ")
        guard let value = number(wide: dssFlags & 0x08 != 0) else { return false }
        emit(decimal64: value)
        guard let subflow = number(wide: false) else { return false }
        emit(" subseq ")
        emit(decimal64: subflow)
        guard left >= 2 else { return false }
        emit(" len ")
        emit(decimal: UInt32(frame.u16(at)))
        at += 2
        left -= 2
        if left >= 2 {
          emit(" csum 0x")
          emit(hex: UInt32(frame.u16(at)), width: 1)
          left -= 2
        }
      }
      guard left == 0 else { return false }
    case 3:
      emit(" add-addr")
      guard [8, 10, 16, 18, 20, 22, 28, 30].contains(length) else { return false }
      switch frame.u8(start + TCPOptionLayout.mptcpSubtype) & 0x0F {
      case 0x6: emit(" v0-ip6")
      case 0x4: emit(" v0-ip4")
      case 0x1: emit(" v1-echo")
      case 0x0: emit(" v1")
      default: emit(" [bad version/echo]")
      }
      emit(" id ")
      emit(decimal: UInt32(frame.u8(start + TCPOptionLayout.mptcpFlagsOrAddressID)))
      emit(byte: 0x20)
      let ipv4 = length <= 18
      let addressLength = ipv4 ? 4 : 16
      if ipv4 {
        emit(address: frame.u32(start + TCPOptionLayout.mptcpFields))
      } else {
        frame.ipv6Address(at: start + TCPOptionLayout.mptcpFields).appendText(to: &out)  // as inet_ntop writes it
      }
      let hasPort = [10, 18, 22, 30].contains(length)
      if hasPort {
        emit(byte: 0x3A)
        emit(decimal: UInt32(frame.u16(start + TCPOptionLayout.mptcpFields + addressLength)))
      }
      if [16, 18, 28, 30].contains(length) {
        emit(" hmac 0x")
        emit(hex: frame.u64(start + TCPOptionLayout.mptcpFields + addressLength + (hasPort ? 2 : 0)), width: 1)
      }
    case 4:
      emit(" rem-addr")
      guard length >= 4 else { return false }
      emit(" id")
      for index in TCPOptionLayout.mptcpFlagsOrAddressID..<length {
        emit(byte: 0x20)
        emit(decimal: UInt32(frame.u8(start + index)))
      }
    case 5:
      emit(" prio")
      guard length == 3 || length == 4 else { return false }
      emit(frame.u8(start + TCPOptionLayout.mptcpSubtype) & 0x01 != 0 ? " backup" : " non-backup")
      if length == 4 {
        emit(" id ")
        emit(decimal: UInt32(frame.u8(start + TCPOptionLayout.mptcpFlagsOrAddressID)))
      }
    case 6:
      emit(" fail")
      guard length == 12 else { return false }
      emit(" seq ")
      emit(decimal64: frame.u64(start + TCPOptionLayout.mptcpFields))
    case 7:
      emit(" fast-close")
      guard length == 12 else { return false }
      emit(" key 0x")
      emit(hex: frame.u64(start + TCPOptionLayout.mptcpFields), width: 1)
    default:
      emit(" unknown")
    }
    return true
  }

  mutating func fastOpen(_ start: Int, _ length: Int, experimental: Bool = false) {
    if experimental { emit("tfo") }
    if length == 0 {
      emit(" cookiereq")
    } else if length % 2 != 0 || length < 4 || length > 16 {
      emit(" (invalid)")
    } else {
      emit(" cookie ")
      emit(hexBytes: start, count: length)
    }
  }

  mutating func badOption(_ separator: Bool) -> Bool {
    emit("[bad opt]")
    if separator { emit("]") }
    return false
  }
}
