// The tcpdump printer's IPv4 step (print-ip.c): header checks in tcpdump's words, the captured
// end cut to the total length, and the hand-over to TCP, UDP or ICMP. See Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: IPv4 (print-ip.c)

  mutating func ip(at start: Int, length: Int) {
    printing(" [|ip]") { (printer: inout Self) throws(TcpdumpTruncated) in try printer.ipBody(at: start, length: length) }
  }

  mutating func ipBody(at start: Int, length: Int) throws(TcpdumpTruncated) {
    let version = try get8(start + IPv4Layout.versionAndIHL) >> 4  // nothing at all: just " [|ip]"
    if version != 4 {
      if version == 6 {
        emit("IP6, wrong link-layer encapsulation")
      } else {
        emit("IP")
        emit(decimal: UInt32(version))
      }
      emit(" (invalid)")
      return
    }
    emit("IP ")
    guard has(start, IPv4Layout.minimumHeaderLength) else { throw TcpdumpTruncated() }
    if length < IPv4Layout.minimumHeaderLength {
      emit("truncated-ip ")
      emit(decimal: length)
      return
    }
    let headerLength = frame.ipv4HeaderLength(at: start)
    if headerLength < IPv4Layout.minimumHeaderLength {
      emit("bad-hlen ")
      emit(decimal: headerLength)
      return
    }
    let totalLength = frame.ipv4TotalLength(at: start)
    if length < totalLength {
      emit("truncated-ip - ")
      emit(decimal: totalLength - length)
      emit(" bytes missing! ")
    }
    if totalLength < headerLength {
      emit("bad-len ")
      emit(decimal: totalLength)
      return
    }
    // Cut the captured end to the IPv4 total length.
    let savedSnap = snapEnd
    snapEnd = min(snapEnd, start + totalLength)
    defer { snapEnd = savedSnap }
    let payloadLength = totalLength - headerLength
    let flagsAndOffset = frame.ipv4FlagsAndOffset(at: start)
    let proto = frame.ipv4Protocol(at: start)
    let source = try get32(start + IPv4Layout.sourceAddress)
    let destination = try get32(start + IPv4Layout.destinationAddress)
    if flagsAndOffset & 0x1FFF == 0 {
      // tcpdump leaves the addresses to the TCP, UDP, SCTP and DCCP printers; PacketKit has no
      // SCTP or DCCP printer, so their lines get the addresses here.
      if proto != 6 && proto != 17 {
        emit(source: source, destination: destination)
        emit(": ")
      }
      try requireHeader(at: start, length: headerLength)
      let fragmented = flagsAndOffset & 0x2000 != 0
      let context = IPContext(start: start, source: source, destination: destination, proto: proto)
      switch proto {
      case 6: tcp(at: start + headerLength, length: payloadLength, context)
      case 17: udp(at: start + headerLength, length: payloadLength, context, fragmented: fragmented)
      case 1: icmp(at: start + headerLength, length: payloadLength)
      default:
        emit(" ip-proto-")
        emit(decimal: UInt32(proto))
        emit(byte: 0x20)
        emit(decimal: payloadLength)
      }
    } else {
      emit(source: source, destination: destination)
      emit(": ip-proto-")
      emit(decimal: UInt32(proto))
    }
  }

  struct IPContext {
    var start: Int
    /// The addresses as stored (big-endian values).
    var source: UInt32
    var destination: UInt32
    var proto: UInt8
    /// IPv6 addresses (then `source` and `destination` are unused), see IPv6/IPv6+Tcpdump.swift.
    var source6: IPv6Address? = nil
    var destination6: IPv6Address? = nil
    /// IPv6 with extension headers before the transport: tcpdump prints ports only there.
    var portsOnly = false
  }
}
