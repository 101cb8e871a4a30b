/// The network interfaces of the namespace the calling thread is in.
public enum NetworkInterfaces {
  /// Their names by index (`if_nameindex(3)`): what tcpdump prints for the interface of an
  /// "any"-device (`LINUX_SLL2`) frame. Empty when they cannot be listed.
  public static func namesByIndex() -> [UInt32: String] {
    var names: [UInt32: String] = [:]
    for (index, name) in system_if_nameindex(limit: 1 << 16) { names[index] = name }
    return names
  }

  /// The index of the interface named `name` (`if_nametoindex(3)`); `nil` when there is none.
  public static func index(named name: String) -> UInt32? {
    let index = system_if_nametoindex(name)
    return index == 0 ? nil : index
  }
}
