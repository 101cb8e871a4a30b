import CRawSocket

/// A layer-3 tun device (`IFF_TUN | IFF_NO_PI`): what the kernel routes to it is read here as
/// IPv4/IPv6 packets, and packets written here arrive as if received on the device. The caller owns
/// the descriptor (`close()`); the device disappears with its last descriptor or its namespace.
public struct TunDevice: Sendable {
  public let descriptor: SocketDescriptor
  /// The device name the kernel gave (`tun0` in a fresh namespace).
  public let name: String
  /// Every packet is preceded by a 10-byte `virtio_net_hdr` (the device does TSO: the kernel hands
  /// it segments larger than the MSS, as a NIC with segmentation offload would get them).
  public let hasVirtioHeader: Bool
  private static let virtioHeaderLength = 10

  /// Creates a tun device named `name` in the calling thread's network namespace. Needs
  /// `CAP_NET_ADMIN`. The corresponding C calls are `open("/dev/net/tun")` and `ioctl(TUNSETIFF)`.
  ///
  /// With `offloads`, the device takes checksum and TSO offloads (`IFF_VNET_HDR`, `TUNSETOFFLOAD`):
  /// large writes leave the stack as one big segment, as packetdrill's tun shows them.
  public static func create(name: String, offloads: Bool = false) throws(SocketError) -> TunDevice {
    let fd = system_open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw SocketError.system(operation: "open(/dev/net/tun)", Errno(rawValue: system_errno())) }
    var request = ifreq()
    crawsocket_ifreq_init(&request, name)
    crawsocket_ifreq_set_flags(
      &request, crawsocket_iff_tun() | crawsocket_iff_no_pi() | (offloads ? crawsocket_iff_vnet_hdr() : 0))
    guard system_ioctl(fd, crawsocket_tunsetiff(), &request) == 0 else {
      let error = Errno(rawValue: system_errno())
      _ = system_close(fd)
      throw SocketError.system(operation: "ioctl(TUNSETIFF)", error)
    }
    if offloads {
      // TUNSETOFFLOAD takes the flags as the argument's value, not through a pointer.
      guard system_ioctl(fd, crawsocket_tunsetoffload(), UnsafeMutableRawPointer(bitPattern: crawsocket_tun_offloads())) == 0 else {
        let error = Errno(rawValue: system_errno())
        _ = system_close(fd)
        throw SocketError.system(operation: "ioctl(TUNSETOFFLOAD)", error)
      }
    }
    let given = withUnsafePointer(to: &request) { String(cString: crawsocket_ifreq_name($0)) }
    return TunDevice(descriptor: SocketDescriptor(rawValue: fd), name: given, hasVirtioHeader: offloads)
  }

  /// Reads one packet, waiting at most `timeoutMilliseconds` (0: do not wait). `nil`: none came.
  public func receive(timeoutMilliseconds: Int32, into buffer: inout [UInt8]) throws(Errno) -> Int? {
    var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
    let ready = try valueOrErrno(retryOnInterrupt: true) { system_poll(&entry, 1, timeoutMilliseconds) }.get()
    guard ready > 0 else { return nil }
    let count = buffer.withUnsafeMutableBytes { system_read(descriptor.rawValue, $0.baseAddress, $0.count) }
    if count < 0 {
      let error = Errno(rawValue: system_errno())
      if error == .resourceTemporarilyUnavailable || error == .interrupted { return nil }
      throw error
    }
    guard hasVirtioHeader else { return count }
    // Drop the virtio_net_hdr: the packet starts after it.
    guard count >= TunDevice.virtioHeaderLength else { return 0 }
    buffer.removeFirst(TunDevice.virtioHeaderLength)
    buffer.append(contentsOf: repeatElement(0, count: TunDevice.virtioHeaderLength))
    return count - TunDevice.virtioHeaderLength
  }

  /// Injects one packet as if the device had received it. The corresponding C function is `write(2)`.
  public func send(_ packet: [UInt8]) throws(Errno) {
    // A zeroed virtio_net_hdr: no offload asked for, checksums complete.
    let packet = hasVirtioHeader ? [UInt8](repeating: 0, count: TunDevice.virtioHeaderLength) + packet : packet
    let count = try valueOrErrno(retryOnInterrupt: true) {
      packet.withUnsafeBytes { system_write(descriptor.rawValue, $0.baseAddress, $0.count) }
    }.get()
    guard count == packet.count else { throw Errno.messageTooLong }
  }

  public func close() { _ = system_close(descriptor.rawValue) }
}

/// Interface and route setup by ioctl, in the calling thread's namespace (what `ip link set up`,
/// `ip addr add` and `ip route add` do). Needs `CAP_NET_ADMIN`.
public enum InterfaceSetup {
  private static func withControlSocket<R>(_ body: (CInt) throws(SocketError) -> R) throws(SocketError) -> R {
    let fd = system_socket(AF_INET, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError.system(operation: "socket(AF_INET, SOCK_DGRAM)", Errno(rawValue: system_errno())) }
    defer { _ = system_close(fd) }
    return try body(fd)
  }

  /// Brings `name` up (`IFF_UP`), optionally setting its MTU first.
  public static func bringUp(_ name: String, mtu: Int32? = nil) throws(SocketError) {
    try withControlSocket { (fd) throws(SocketError) in
      var request = ifreq()
      crawsocket_ifreq_init(&request, name)
      if let mtu {
        crawsocket_ifreq_set_mtu(&request, mtu)
        guard system_ioctl(fd, UInt(SIOCSIFMTU), &request) == 0 else {
          throw SocketError.system(operation: "ioctl(SIOCSIFMTU \(name))", Errno(rawValue: system_errno()))
        }
      }
      guard system_ioctl(fd, UInt(SIOCGIFFLAGS), &request) == 0 else {
        throw SocketError.system(operation: "ioctl(SIOCGIFFLAGS \(name))", Errno(rawValue: system_errno()))
      }
      crawsocket_ifreq_set_flags(&request, crawsocket_ifreq_flags(&request) | Int16(IFF_UP) | Int16(IFF_RUNNING))
      guard system_ioctl(fd, UInt(SIOCSIFFLAGS), &request) == 0 else {
        throw SocketError.system(operation: "ioctl(SIOCSIFFLAGS \(name))", Errno(rawValue: system_errno()))
      }
    }
  }

  /// Gives `name` the IPv4 `address` with `netmask` (both host order, as `IPv4Address.rawValue`).
  public static func setAddress(_ name: String, address: UInt32, netmask: UInt32) throws(SocketError) {
    try withControlSocket { (fd) throws(SocketError) in
      var request = ifreq()
      crawsocket_ifreq_init(&request, name)
      crawsocket_ifreq_set_ipv4(&request, address.bigEndian)
      guard system_ioctl(fd, UInt(SIOCSIFADDR), &request) == 0 else {
        throw SocketError.system(operation: "ioctl(SIOCSIFADDR \(name))", Errno(rawValue: system_errno()))
      }
      crawsocket_ifreq_set_ipv4(&request, netmask.bigEndian)
      guard system_ioctl(fd, UInt(SIOCSIFNETMASK), &request) == 0 else {
        throw SocketError.system(operation: "ioctl(SIOCSIFNETMASK \(name))", Errno(rawValue: system_errno()))
      }
    }
  }

  /// Adds a route to `destination`/`netmask` through device `name`, via `gateway` when given
  /// (addresses in host order).
  public static func addRoute(destination: UInt32, netmask: UInt32, gateway: UInt32 = 0, device name: String) throws(SocketError) {
    try withControlSocket { (fd) throws(SocketError) in
      var device = Array(name.utf8CString)
      var route = rtentry()
      let result = device.withUnsafeMutableBufferPointer { buffer -> CInt in
        crawsocket_rtentry_init(&route, destination.bigEndian, netmask.bigEndian, gateway.bigEndian, buffer.baseAddress)
        return system_ioctl(fd, UInt(SIOCADDRT), &route)
      }
      guard result == 0 else {
        throw SocketError.system(operation: "ioctl(SIOCADDRT via \(name))", Errno(rawValue: system_errno()))
      }
    }
  }
}

extension InterfaceSetup {
  // rtnetlink (<linux/rtnetlink.h>, <linux/if_addr.h>).
  private static let newAddress: UInt16 = 20, newRoute: UInt16 = 24
  private static let addressAttribute: UInt16 = 1 /* IFA_ADDRESS */, localAttribute: UInt16 = 2 /* IFA_LOCAL */
  private static let addressFlagsAttribute: UInt16 = 8 /* IFA_FLAGS */
  private static let noDAD: UInt32 = 0x02 /* IFA_F_NODAD */

  private static func netlinkFailure(_ what: String, _ error: NetlinkError) -> SocketError {
    .system(operation: what, error.errno ?? .invalidArgument)
  }

  /// Gives `name` the IPv6 `address` (16 bytes) with `prefixLength`, with no duplicate address
  /// detection (`IFA_F_NODAD`): usable at once, as `ip -6 addr add ADDR/LEN dev NAME nodad`.
  /// The kernel adds the prefix route when the device is up.
  public static func addIPv6Address(_ name: String, address: [UInt8], prefixLength: UInt8) throws(SocketError) {
    guard address.count == 16, prefixLength <= 128 else {
      throw .system(operation: "RTM_NEWADDR \(name): an IPv6 address has 16 bytes", .invalidArgument)
    }
    do throws(NetlinkError) {
      let lookup = try RouteLookup(timeout: .seconds(2))
      defer { lookup.netlink.close() }
      let index = try lookup.interface(named: name).index
      var message = NetlinkMessageBuilder(type: newAddress, flags: [.request, .acknowledge, .create, .exclusive])
      // struct ifaddrmsg: family, prefix length, flags, scope, interface index.
      message.append(bytes: [UInt8(AF_INET6), prefixLength, UInt8(noDAD), 0])
      message.append(bytes: withUnsafeBytes(of: index) { Array($0) })
      message.appendAttribute(type: localAttribute, payload: address)
      message.appendAttribute(type: addressAttribute, payload: address)
      message.appendAttribute(type: addressFlagsAttribute, uint32: noDAD)
      _ = try lookup.netlink.request(message)
      // The address exists at once (bind succeeds), but the kernel inserts its local route from
      // a work queue (addrconf's DAD work, run even with NODAD): until then a packet to it is not
      // delivered. Wait for that route, at most 2 s, so that a script's first SYN is not lost.
      for _ in 0..<2000 {
        if (try? lookup.route(toIPv6: address))?.isLocal == true { return }
        _ = ScriptSockets.poll([], timeoutMicroseconds: 1000)
      }
      throw NetlinkError.timedOut(milliseconds: 2000)
    } catch {
      throw netlinkFailure("RTM_NEWADDR \(name) (its local route)", error)
    }
  }

  /// Adds an IPv6 route to `destination`/`prefixLength` through device `name`, via `gateway` when
  /// given (as `ip -6 route add DEST/LEN via GATEWAY dev NAME`).
  public static func addIPv6Route(
    destination: [UInt8], prefixLength: UInt8, gateway: [UInt8]? = nil, device name: String
  ) throws(SocketError) {
    guard destination.count == 16, gateway.map({ $0.count == 16 }) ?? true, prefixLength <= 128 else {
      throw .system(operation: "RTM_NEWROUTE via \(name): an IPv6 address has 16 bytes", .invalidArgument)
    }
    do throws(NetlinkError) {
      let lookup = try RouteLookup(timeout: .seconds(2))
      defer { lookup.netlink.close() }
      let index = try lookup.interface(named: name).index
      var message = NetlinkMessageBuilder(type: newRoute, flags: [.request, .acknowledge, .create, .exclusive])
      // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot), scope
      // (universe), type (unicast), flags.
      message.append(bytes: [UInt8(AF_INET6), prefixLength, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0])
      message.appendAttribute(type: 1 /* RTA_DST */, payload: destination)
      message.appendAttribute(type: 4 /* RTA_OIF */, uint32: index)
      if let gateway { message.appendAttribute(type: 5 /* RTA_GATEWAY */, payload: gateway) }
      _ = try lookup.netlink.request(message)
    } catch {
      throw netlinkFailure("RTM_NEWROUTE via \(name)", error)
    }
  }
}
