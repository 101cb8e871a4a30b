import CRawSocket

/// An error number reported by a Linux system call.
///
/// A struct over `CInt`, open to any value the kernel returns. Names follow swift-system.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
  /// The raw C error number.
  public let rawValue: CInt
  public init(rawValue: CInt) { self.rawValue = rawValue }

  /// Operation not permitted. The corresponding C error is `EPERM`.
  public static var notPermitted: Errno { Errno(rawValue: EPERM) }
  /// No such file or directory. The corresponding C error is `ENOENT`.
  public static var noSuchFileOrDirectory: Errno { Errno(rawValue: ENOENT) }
  /// Interrupted function call. The corresponding C error is `EINTR`.
  public static var interrupted: Errno { Errno(rawValue: EINTR) }
  /// Bad file descriptor. The corresponding C error is `EBADF`.
  public static var badFileDescriptor: Errno { Errno(rawValue: EBADF) }
  /// Resource temporarily unavailable. The corresponding C error is `EAGAIN`.
  public static var resourceTemporarilyUnavailable: Errno { Errno(rawValue: EAGAIN) }
  /// Cannot allocate memory. The corresponding C error is `ENOMEM`.
  public static var noMemory: Errno { Errno(rawValue: ENOMEM) }
  /// Permission denied. The corresponding C error is `EACCES`.
  public static var permissionDenied: Errno { Errno(rawValue: EACCES) }
  /// Device or resource busy. The corresponding C error is `EBUSY`.
  public static var resourceBusy: Errno { Errno(rawValue: EBUSY) }
  /// File exists. The corresponding C error is `EEXIST`.
  public static var fileExists: Errno { Errno(rawValue: EEXIST) }
  /// No such device. The corresponding C error is `ENODEV`.
  public static var noSuchDevice: Errno { Errno(rawValue: ENODEV) }
  /// Invalid argument. The corresponding C error is `EINVAL`.
  public static var invalidArgument: Errno { Errno(rawValue: EINVAL) }
  /// Message too long. The corresponding C error is `EMSGSIZE`.
  public static var messageTooLong: Errno { Errno(rawValue: EMSGSIZE) }
  /// Protocol not supported. The corresponding C error is `EPROTONOSUPPORT`.
  public static var protocolNotSupported: Errno { Errno(rawValue: EPROTONOSUPPORT) }
  /// Address family not supported. The corresponding C error is `EAFNOSUPPORT`.
  public static var addressFamilyNotSupported: Errno { Errno(rawValue: EAFNOSUPPORT) }
  /// No buffer space available. The corresponding C error is `ENOBUFS`.
  public static var noBufferSpace: Errno { Errno(rawValue: ENOBUFS) }
  /// Network is unreachable. The corresponding C error is `ENETUNREACH`.
  public static var networkUnreachable: Errno { Errno(rawValue: ENETUNREACH) }
  /// Connection refused. The corresponding C error is `ECONNREFUSED`.
  public static var connectionRefused: Errno { Errno(rawValue: ECONNREFUSED) }
  /// Connection reset by peer. The corresponding C error is `ECONNRESET`.
  public static var connectionReset: Errno { Errno(rawValue: ECONNRESET) }
  /// Address already in use. The corresponding C error is `EADDRINUSE`.
  public static var addressInUse: Errno { Errno(rawValue: EADDRINUSE) }
  /// Operation not supported. The corresponding C error is `EOPNOTSUPP`.
  public static var notSupported: Errno { Errno(rawValue: EOPNOTSUPP) }

  /// The C error name and `strerror` text, e.g. `EPERM (Operation not permitted)`.
  public var description: String {
    let text = system_strerror(rawValue)
    switch rawValue {
    case EPERM: return "EPERM (\(text))"
    case EACCES: return "EACCES (\(text))"
    case EINTR: return "EINTR (\(text))"
    case EAGAIN: return "EAGAIN (\(text))"
    case EINVAL: return "EINVAL (\(text))"
    case ENOENT: return "ENOENT (\(text))"
    case ENODEV: return "ENODEV (\(text))"
    case EBUSY: return "EBUSY (\(text))"
    case EEXIST: return "EEXIST (\(text))"
    default: return "errno \(rawValue) (\(text))"
    }
  }
}
