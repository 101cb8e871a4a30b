// The tcpdump printer's UDP step (print-udp.c). See Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: UDP (print-udp.c)

  mutating func udp(at start: Int, length: Int, _ ip: IPContext, fragmented: Bool) {
    printing(" [|udp]") { (printer: inout Self) throws(TcpdumpTruncated) in
      try printer.udpBody(at: start, length: length, ip, fragmented: fragmented)
    }
  }

  mutating func udpBody(at start: Int, length: Int, _ ip: IPContext, fragmented: Bool)
    throws(TcpdumpTruncated)
  {
    guard has(start + UDPLayout.destinationPort, 2) else {
      if emitAddresses(ip) { emit(": ") }
      throw TcpdumpTruncated()
    }
    emitEndpoint(ip, source: true, port: frame.u16(start + UDPLayout.sourcePort))
    emit(" > ")
    emitEndpoint(ip, source: false, port: frame.u16(start + UDPLayout.destinationPort))
    emit(": ")
    if length < UDPLayout.headerLength {
      emit("truncated-udp ")
      emit(decimal: length)
      return
    }
    guard has(start + UDPLayout.length, 2) else { throw TcpdumpTruncated() }
    let udpLength = frame.udpLength(at: start)
    if udpLength < UDPLayout.headerLength {
      emit("truncated-udplength ")
      emit(decimal: udpLength)
      return
    }
    let dataLength = min(udpLength - UDPLayout.headerLength, length - UDPLayout.headerLength)
    guard start + UDPLayout.headerLength <= snapEnd else { throw TcpdumpTruncated() }
    if udpLength - UDPLayout.headerLength > dataLength && !fragmented {
      emit("UDP, bad length ")
      emit(decimal: udpLength - UDPLayout.headerLength)
      emit(" > ")
      emit(decimal: dataLength)
    } else {
      emit("UDP, length ")
      emit(decimal: udpLength - UDPLayout.headerLength)
    }
  }
}
