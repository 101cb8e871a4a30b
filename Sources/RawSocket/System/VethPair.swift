// A veth pair between two network namespaces of our own, with a real MTU and the offloads off, so
// that TCP segments cross it as they cross a wire (see docs/kernel-facts.md, fact 22).
import CRawSocket

/// Creating a veth pair whose two ends live in different network namespaces.
public enum VethPair {
  /// `RTM_NEWLINK`, and the attributes a veth needs (linux/if_link.h, linux/veth.h).
  static let newLink: UInt16 = 16
  static let ifName: UInt16 = 3, ifMTU: UInt16 = 4, linkInfo: UInt16 = 18, netNamespaceFD: UInt16 = 28
  static let infoKind: UInt16 = 1, infoData: UInt16 = 2, vethPeer: UInt16 = 1

  /// The netlink request that creates veth `name` in the current namespace, its peer `peerName`
  /// in the namespace open as `peerNamespace`, both with `mtu`. (Separate for tests to read.)
  public static func request(name: String, peerName: String, peerNamespace: CInt, mtu: UInt32) -> NetlinkMessageBuilder {
    // struct ifinfomsg, all zero: AF_UNSPEC, no index, no flags.
    let ifinfomsg = [UInt8](repeating: 0, count: 16)
    var message = NetlinkMessageBuilder(type: newLink, flags: [.request, .acknowledge, .create, .exclusive])
    message.append(bytes: ifinfomsg)
    message.appendAttribute(type: ifName, string: name)
    message.appendAttribute(type: ifMTU, uint32: mtu)
    message.appendNested(type: linkInfo) { info in
      info.appendAttribute(type: infoKind, string: "veth")
      info.appendNested(type: infoData) { data in
        data.appendNested(type: vethPeer) { peer in
          peer.append(bytes: ifinfomsg)
          peer.appendAttribute(type: ifName, string: peerName)
          peer.appendAttribute(type: ifMTU, uint32: mtu)
          peer.appendAttribute(type: netNamespaceFD, uint32: UInt32(bitPattern: peerNamespace))
        }
      }
    }
    return message
  }

  /// Creates veth `name` in the calling thread's network namespace and its peer `peerName` in the
  /// namespace open as `peerNamespace` (a descriptor of a namespace file), both with `mtu`.
  /// Needs `CAP_NET_ADMIN` over both namespaces.
  ///
  /// - Throws: `NetlinkError` (`EEXIST` when a device of that name exists, `EPERM`...).
  public static func create(name: String, peerName: String, peerNamespace: CInt, mtu: UInt32) throws(NetlinkError) {
    let socket = try NetlinkSocket(.route)
    defer { socket.close() }
    _ = try socket.request(request(name: name, peerName: peerName, peerNamespace: peerNamespace, mtu: mtu))
  }
}

extension InterfaceSetup {
  /// The ethtool switches `disableOffloads` turns off, by their legacy commands: TSO, GSO, GRO
  /// and transmit checksumming (ETHTOOL_STSO, _SGSO, _SGRO, _STXCSUM).
  static let offloadSwitches: [(name: String, command: UInt32)] = [
    ("tso", 0x1F), ("gso", 0x24), ("gro", 0x2C), ("tx-checksumming", 0x17),
  ]

  /// Whether each of `offloadSwitches` is on for `name` (its legacy get command, one less than
  /// the set command), as `ethtool -k NAME` shows them.
  public static func offloads(_ name: String) throws(SocketError) -> [String: Bool] {
    var states: [String: Bool] = [:]
    // Each get command is its set command less one (ETHTOOL_GTSO 0x1e, ETHTOOL_STSO 0x1f, ...).
    try ethtool(name, setting: nil) { feature, value in states[feature] = value != 0 }
    return states
  }

  /// Turns segmentation and receive offloads and transmit checksum offload off on `name`, as
  /// `ethtool -K NAME tso off gso off gro off tx off` does: TCP then builds one segment per MSS,
  /// a capture on either end sees each segment as a wire carries it, with its checksum finished.
  /// Needs `CAP_NET_ADMIN` over the interface's namespace.
  public static func disableOffloads(_ name: String) throws(SocketError) {
    try ethtool(name, setting: 0) { _, _ in }
  }

  /// One `SIOCETHTOOL` ioctl per offload switch on `name`: each switch set to `setting`, or read
  /// (its get command) when `setting` is nil; `each` gets the feature and the value it came back with.
  private static func ethtool(_ name: String, setting: UInt32?, _ each: (String, UInt32) -> Void) throws(SocketError) {
    let fd = system_socket(AF_INET, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError.system(operation: "socket(AF_INET, SOCK_DGRAM)", Errno(rawValue: system_errno())) }
    defer { _ = system_close(fd) }
    for (feature, command) in offloadSwitches {
      var value = ethtool_value(cmd: setting == nil ? command - 1 : command, data: setting ?? 0)
      var request = ifreq()
      crawsocket_ifreq_init(&request, name)
      let result = withUnsafeMutablePointer(to: &value) { pointer -> CInt in
        crawsocket_ifreq_set_ethtool(&request, pointer)
        return system_ioctl(fd, crawsocket_siocethtool, &request)
      }
      guard result == 0 else {
        let what = setting == nil ? feature : "\(feature) \(setting == 0 ? "off" : "on")"
        throw SocketError.system(operation: "ioctl(SIOCETHTOOL \(what) on \(name))", Errno(rawValue: system_errno()))
      }
      each(feature, value.data)
    }
  }
}

extension NetworkNamespace {
  /// Makes a new, anonymous network namespace with `lo` up and returns a descriptor that holds it
  /// (no name under /run/netns: when the descriptor and whatever lives inside are gone, the kernel
  /// removes it with its devices, even after a SIGKILL). The calling thread stays where it is (a
  /// short thread of its own does the unshare). Needs `CAP_SYS_ADMIN` over the current namespace.
  ///
  /// - Throws: the step that failed and its errno.
  public static func makeAnonymous() throws(SocketError) -> FileDescriptor {
    final class Outcome: @unchecked Sendable {
      var descriptor: CInt = -1
      var failure: SocketError?
    }
    let outcome = Outcome()
    let thread: IsolatedThread
    do {
      thread = try IsolatedThread.start {
        guard system_unshare(0x4000_0000) == 0 else {
          outcome.failure = .system(operation: "unshare(CLONE_NEWNET)", Errno(rawValue: system_errno()))
          return
        }
        do throws(UserNamespace.EntryError) {
          try UserNamespace.bringLoopbackUp()
        } catch {
          outcome.failure = .system(operation: "setting lo up in the new namespace", error.errno ?? Errno(rawValue: EIO))
          return
        }
        let fd = system_openReadOnly("/proc/thread-self/ns/net")
        if fd < 0 {
          outcome.failure = .system(operation: "open(/proc/thread-self/ns/net)", Errno(rawValue: system_errno()))
        }
        outcome.descriptor = fd
      }
    } catch {
      throw .system(operation: "pthread_create", error)
    }
    thread.join()
    if let failure = outcome.failure { throw failure }
    return FileDescriptor(rawValue: outcome.descriptor)
  }
}

extension UserNamespace {
  /// Moves this process into the network namespace of process `pid` (and into its user
  /// namespace first, when that is not ours: the private namespace a normal user's tcpcraft makes),
  /// with every capability of that user namespace made ambient, so that programs it then runs
  /// (a shell, tcpcraft) hold CAP_NET_RAW and CAP_NET_ADMIN over that network.
  ///
  /// Only a process of our own uid is joined (`/proc/PID` must belong to us); the namespaces are
  /// opened through a descriptor of `/proc/PID`, so a pid reused meanwhile is refused, not
  /// followed. Call it first thing: entering a user namespace needs a single-threaded process.
  ///
  /// - Throws: `EntryError` naming the step (no such process, not ours, setns refused...).
  public static func join(processID pid: Int32) throws(EntryError) {
    guard pid > 0 else { throw EntryError(reason: "no process \(pid)") }
    let directory = system_open("/proc/\(pid)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directory >= 0 else { throw EntryError(reason: "no process \(pid) to join", errno: Errno(rawValue: system_errno())) }
    defer { _ = system_close(directory) }
    var owner = stat()
    guard system_fstat(directory, &owner) == 0 else {
      throw EntryError(reason: "reading process \(pid)", errno: Errno(rawValue: system_errno()))
    }
    guard owner.st_uid == system_getuid() else {
      throw EntryError(reason: "process \(pid) is not yours (it belongs to uid \(owner.st_uid)): tcpcraft joins only your own")
    }
    func open(_ name: String) throws(EntryError) -> CInt {
      let fd = system_openat(directory, name, O_RDONLY | O_CLOEXEC, 0)
      guard fd >= 0 else { throw EntryError(reason: "opening /proc/\(pid)/\(name)", errno: Errno(rawValue: system_errno())) }
      return fd
    }
    let user = try open("ns/user")
    defer { _ = system_close(user) }
    let network = try open("ns/net")
    defer { _ = system_close(network) }
    let ours = system_openReadOnly("/proc/self/ns/user")
    defer { if ours >= 0 { _ = system_close(ours) } }
    var theirs = stat(), mine = stat()
    let sameUser = ours >= 0 && system_fstat(user, &theirs) == 0 && system_fstat(ours, &mine) == 0
      && theirs.st_ino == mine.st_ino && theirs.st_dev == mine.st_dev
    if !sameUser {
      if let threads = threadCount(), threads > 1 {
        throw EntryError(
          reason: "a process with \(threads) threads cannot enter a user namespace (setns needs a single thread)",
          errno: Errno(rawValue: EINVAL))
      }
      guard system_setns(user, cloneNewUser) == 0 else {
        throw EntryError(reason: "entering the user namespace of process \(pid) (setns)", errno: Errno(rawValue: system_errno()))
      }
    }
    guard system_setns(network, cloneNewNet) == 0 else {
      throw EntryError(reason: "entering the network namespace of process \(pid) (setns)", errno: Errno(rawValue: system_errno()))
    }
    if !sameUser && system_raiseAmbientCapabilities() != 0 {
      throw EntryError(reason: "making the namespace's capabilities ambient", errno: Errno(rawValue: system_errno()))
    }
  }
}
