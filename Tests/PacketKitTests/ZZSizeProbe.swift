import Testing
@testable import PacketKit
@Test func zzSizes() {
  print("SIZES Layer", MemoryLayout<Layer>.size, MemoryLayout<Layer>.stride, "TCP", MemoryLayout<TCPHeader>.size, "IPv4", MemoryLayout<IPv4Header>.size, "IPv6", MemoryLayout<IPv6Header>.size, "Eth", MemoryLayout<EthernetHeader>.size, "UDP", MemoryLayout<UDPHeader>.size, "ICMP4", MemoryLayout<ICMPv4Header>.size, "ICMP6", MemoryLayout<ICMPv6Header>.size, "opt6", MemoryLayout<IPv6OptionsHeader>.size, "rt6", MemoryLayout<IPv6RoutingHeader>.size, "frag6", MemoryLayout<IPv6FragmentHeader>.size, "area", MemoryLayout<InlineOptionArea>.size)
}
