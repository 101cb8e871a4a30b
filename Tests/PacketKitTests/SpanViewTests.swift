import Testing
@testable import PacketKit

/// The non-escapable span views (`IPv4SpanView`, `TCPSpanView`) against the `ArraySlice` views:
/// the same verdict (accepted, or the same error) and the same fields, options, payload and
/// checksum results, on every fixture, every truncation of it, and mutated packets.
@Suite struct SpanViewTests {
  /// Everything a reader takes from both views, as one comparable value (`nil`: rejected).
  struct Reading: Equatable {
    var ip: [UInt64]
    var ipOptions: [UInt8]
    var ipPayload: [UInt8]
    var ipTrailer: [UInt8]
    var ipChecksumValid: Bool
    var tcp: Result<[UInt64], PacketError>?
    var tcpOptions: [Result<TCPOption, PacketError>]
    var tcpPayload: [UInt8]
    var tcpChecksumValid: Bool
    var tcpComputed: UInt16
  }

  static func viaSlices(_ bytes: [UInt8]) -> Result<Reading, PacketError> {
    let ip: IPv4View
    do { ip = try IPv4View(validating: bytes[...]) } catch { return .failure(error) }
    var reading = Reading(
      ip: [UInt64(ip.version), UInt64(ip.ihl), UInt64(ip.dscp), UInt64(ip.ecn), UInt64(ip.totalLength),
           UInt64(ip.identification), UInt64(ip.flags.rawValue), UInt64(ip.fragmentOffset), UInt64(ip.timeToLive),
           UInt64(ip.protocol.rawValue), UInt64(ip.checksum), UInt64(ip.sourceAddress.rawValue),
           UInt64(ip.destinationAddress.rawValue), ip.isTruncated ? 1 : 0],
      ipOptions: Array(ip.optionBytes), ipPayload: Array(ip.payload), ipTrailer: Array(ip.trailingBytes),
      ipChecksumValid: ip.isChecksumValid, tcp: nil, tcpOptions: [], tcpPayload: [], tcpChecksumValid: false,
      tcpComputed: 0)
    do {
      let tcp = try TCPView(validating: ip.payload)
      reading.tcp = .success(tcpFields(tcp.sourcePort, tcp.destinationPort, tcp.sequenceNumber, tcp.acknowledgmentNumber,
                                       tcp.dataOffset, tcp.reserved, tcp.flags, tcp.window, tcp.checksum, tcp.urgentPointer))
      reading.tcpOptions = Array(tcp.options)
      reading.tcpPayload = Array(tcp.payload)
      let pseudo = ip.pseudoHeader(protocol: .tcp, length: tcp.bytes.count)
      reading.tcpChecksumValid = tcp.isChecksumValid(pseudoHeader: pseudo)
      reading.tcpComputed = tcp.computedChecksum(pseudoHeader: pseudo)
    } catch {
      reading.tcp = .failure(error)
    }
    return .success(reading)
  }

  static func viaSpans(_ bytes: [UInt8]) -> Result<Reading, PacketError> {
    let span = bytes.span.bytes
    let ip: IPv4SpanView
    do { ip = try IPv4SpanView(validating: span) } catch { return .failure(error) }
    var reading = Reading(
      ip: [UInt64(ip.version), UInt64(ip.ihl), UInt64(ip.dscp), UInt64(ip.ecn), UInt64(ip.totalLength),
           UInt64(ip.identification), UInt64(ip.flags.rawValue), UInt64(ip.fragmentOffset), UInt64(ip.timeToLive),
           UInt64(ip.protocol.rawValue), UInt64(ip.checksum), UInt64(ip.sourceAddress.rawValue),
           UInt64(ip.destinationAddress.rawValue), ip.isTruncated ? 1 : 0],
      ipOptions: ip.optionBytes.withUnsafeBytes { Array($0) }, ipPayload: ip.payload.withUnsafeBytes { Array($0) },
      ipTrailer: ip.trailingBytes.withUnsafeBytes { Array($0) },
      ipChecksumValid: ip.isChecksumValid, tcp: nil, tcpOptions: [], tcpPayload: [], tcpChecksumValid: false,
      tcpComputed: 0)
    do {
      let tcp = try TCPSpanView(validating: ip.payload)
      reading.tcp = .success(tcpFields(tcp.sourcePort, tcp.destinationPort, tcp.sequenceNumber, tcp.acknowledgmentNumber,
                                       tcp.dataOffset, tcp.reserved, tcp.flags, tcp.window, tcp.checksum, tcp.urgentPointer))
      var options = tcp.options
      var count = 0
      while let option = options.next(), count < 64 {
        reading.tcpOptions.append(option)
        count += 1
      }
      reading.tcpPayload = tcp.payload.withUnsafeBytes { Array($0) }
      let pseudo = ip.pseudoHeader(protocol: .tcp, length: tcp.bytes.byteCount)
      reading.tcpChecksumValid = tcp.isChecksumValid(pseudoHeader: pseudo)
      reading.tcpComputed = tcp.computedChecksum(pseudoHeader: pseudo)
    } catch {
      reading.tcp = .failure(error)
    }
    return .success(reading)
  }

  static func tcpFields(
    _ a: UInt16, _ b: UInt16, _ c: UInt32, _ d: UInt32, _ e: UInt8, _ f: UInt8, _ g: TCPFlags, _ h: UInt16,
    _ i: UInt16, _ j: UInt16
  ) -> [UInt64] {
    [UInt64(a), UInt64(b), UInt64(c), UInt64(d), UInt64(e), UInt64(f), UInt64(g.rawValue), UInt64(h), UInt64(i), UInt64(j)]
  }

  @Test func fixturesAndEveryTruncationReadTheSame() {
    var compared = 0
    for (name, bytes) in Fixture.ipv4Packets {
      for length in 0...bytes.count {
        let cut = Array(bytes[..<length])
        #expect(Self.viaSpans(cut) == Self.viaSlices(cut), "\(name) cut \(length)")
        compared += 1
      }
    }
    #expect(compared > 100)
    // The full SYN is really read (not rejected on both sides alike).
    guard case .success(let reading) = Self.viaSpans(Fixture.classicSYN) else {
      Issue.record("the classic SYN is rejected")
      return
    }
    #expect(reading.ipChecksumValid && reading.tcpChecksumValid)
    #expect(reading.tcpOptions.contains { if case .success(.maximumSegmentSize) = $0 { true } else { false } })
  }

  @Test func dissectLayersOverASpanEqualsDissect() {
    for linkType in DissectFastPathTests.linkTypes {
      for (label, hex) in formatTcpdumpFixtures + formatTcpdumpEthernetFixtures {
        let frame = FormatTools.frame(FormatTools.bytes(hex: hex), linkType: linkType)
        for length in stride(from: 0, through: frame.count, by: 3) {
          let cut = Array(frame.prefix(length))
          for verify in [true, false] {
            let options = DissectionOptions(verifyChecksums: verify)
            #expect(dissectLayers(cut.span.bytes, linkType: linkType, options: options)
              == dissect(cut, linkType: linkType, options: options).layers, "\(label) \(linkType) [..<\(length)]")
          }
        }
      }
    }
  }

  @Test func mutatedPacketsReadTheSame() {
    var generator = SeededGenerator(seed: 0x5EED_1234)
    let bases = Fixture.ipv4Packets.map(\.bytes)
    for round in 0..<5_000 {
      var bytes = bases[round % bases.count]
      // A few bytes of the header area changed (IHL, total length, data offset, options...).
      for _ in 0..<(1 + Int(generator.next() % 4)) {
        let at = Int(generator.next() % UInt64(min(bytes.count, 64)))
        bytes[at] = UInt8(truncatingIfNeeded: generator.next())
      }
      if generator.next() % 3 == 0 { bytes.removeLast(Int(generator.next() % UInt64(bytes.count))) }
      #expect(Self.viaSpans(bytes) == Self.viaSlices(bytes), "round \(round): \(bytes)")
    }
  }
}
