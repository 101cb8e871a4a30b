// libFuzzer target over PacketKit's dissector, compiled together with PacketKit's sources into
// one module by Fuzz/run.sh (so it needs no import).
//
// Input layout: the first byte picks the link type (LinkType.allCases[byte % count]) and, in its
// top bit, `checksumNotReady`; the rest is the frame. Every input also goes through PcapReader as
// a whole pcap file. A broken invariant crashes on purpose (that is how libFuzzer reports it).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDissector(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  guard let data, size > 0 else { return 0 }
  let input = Array(UnsafeBufferPointer(start: data, count: size))
  let selector = input[0]
  let linkTypes = LinkType.allCases
  let linkType = linkTypes[Int(selector & 0x7F) % linkTypes.count]
  let options = DissectionOptions(checksumNotReady: selector & 0x80 != 0)
  let frame = input[1...]
  checkFrame(frame, linkType: linkType, options: options)

  // The same bytes as a pcap file, fed in two chunks.
  var reader = PcapReader()
  let split = Int(selector) % (input.count + 1)
  reader.append(input[..<split])
  var records: [PcapRecord] = []
  while let record = try? reader.next(), records.count < 64 { records.append(record) }
  reader.append(input[split...])
  while let record = try? reader.next(), records.count < 64 { records.append(record) }
  _ = try? reader.finish()
  let fileLinkType = reader.header?.linkType ?? .ethernet
  for record in records { checkFrame(record.data[...], linkType: fileLinkType, options: options) }
  return 0
}

private func checkFrame(_ frame: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions) {
  let dissection = dissect(frame, linkType: linkType, options: options)
  // Never loses bytes: layers tile the frame.
  var position = 0
  for layer in dissection.layers {
    if layer.range.lowerBound != position || layer.range.upperBound < position {
      fatalError("layers do not tile the frame at \(position): \(dissection.layers)")
    }
    position = layer.range.upperBound
  }
  if position != frame.count { fatalError("layers end at \(position) of \(frame.count)") }
  // The fast path for plain TCP/IPv4 frames changes nothing: the general path gives the same.
  let general = dissect(frame, linkType: linkType, options: options, allowFastPath: false)
  if general.layers != dissection.layers || Array(general.layers) != Array(dissection.layers) {
    fatalError("fast path differs: \(Array(dissection.layers)) vs \(Array(general.layers))")
  }
  _ = dissection.summary
  _ = dissection.show()
  _ = hexdump(frame, style: .tcpdumpASCII)
  _ = (dissection.ipv4, dissection.tcp, dissection.udp, dissection.icmpv4, dissection.payload)
  // Round trip decode → encode, where a Packet can hold the frame.
  if let packet = dissection.packet {
    do {
      let encoded = try packet.encoded()
      if encoded != Array(frame) {
        fatalError("round trip differs: \(encoded.count) bytes from \(frame.count)")
      }
      _ = packet.summary
      // Options decoded from the wire, kept again from their list, give the same plain-bytes
      // area (one list, one form), and read back as that list.
      for layer in packet.layers {
        switch layer {
        case .tcp(let tcp):
          let list = tcp.options
          if InlineOptionArea(list) != tcp.optionStorage || TCPHeader(sourcePort: 0, destinationPort: 0, options: list).options != list {
            fatalError("TCP options do not keep as they decode: \(list)")
          }
        case .ipv4(let ip):
          let list = ip.options
          if InlineOptionArea(list) != ip.optionArea {
            fatalError("IPv4 options do not keep as they decode: \(list)")
          }
        default: break
        }
      }
    } catch {
      fatalError("decoded packet does not encode: \(error)")
    }
  }
}
