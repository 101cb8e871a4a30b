// The tcpdump printer's UDP step (print-udp.c). See Format/Summary.swift.

extension TcpdumpPrinter {
  // MARK: UDP (print-udp.c)

  mutating func udp(at start: Int, length: Int, _ ip: IPContext, fragmented: Bool) {
    do {
      try udpBody(at: start, length: length, ip, fragmented: fragmented)
    } catch {
      emit(" [|udp]")
    }
  }

  mutating func udpBody(at start: Int, length: Int, _ ip: IPContext, fragmented: Bool)
    throws(TcpdumpTruncated)
  {
    guard has(start + 2, 2) else {
      if emitAddresses(ip) { emit(": ") }
      throw TcpdumpTruncated()
    }
    emitEndpoint(ip, source: true, port: frame.u16(start))
    emit(" > ")
    emitEndpoint(ip, source: false, port: frame.u16(start + 2))
    emit(": ")
    if length < 8 {
      emit("truncated-udp ")
      emit(decimal: length)
      return
    }
    guard has(start + 4, 2) else { throw TcpdumpTruncated() }
    let udpLength = Int(frame.u16(start + 4))
    if udpLength < 8 {
      emit("truncated-udplength ")
      emit(decimal: udpLength)
      return
    }
    let dataLength = min(udpLength - 8, length - 8)
    guard start + 8 <= snapEnd else { throw TcpdumpTruncated() }
    if udpLength - 8 > dataLength && !fragmented {
      emit("UDP, bad length ")
      emit(decimal: udpLength - 8)
      emit(" > ")
      emit(decimal: dataLength)
    } else {
      emit("UDP, length ")
      emit(decimal: udpLength - 8)
    }
  }
}
