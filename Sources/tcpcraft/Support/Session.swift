import Foundation
import PacketKit
import TCPScript

/// What `tcpcraft handshake` leaves for a later `tcpcraft fin`: the 4-tuple, the sequence
/// variables, and the process that holds the RST guard. Saved as JSON, one file a connection.
struct Session: Codable, Equatable {
  var localAddress: String
  var localPort: UInt16
  var remoteAddress: String
  var remotePort: UInt16
  var interface: String
  var state: String
  /// Our ISN and SND.NXT; the peer's ISN and RCV.NXT.
  var initialSendSequence: UInt32
  var sendNext: UInt32
  var initialReceiveSequence: UInt32?
  var receiveNext: UInt32
  /// Timestamps negotiated (RFC 7323): TS.Recent and our clock's offset, to keep echoing.
  var timestamps: Bool? = nil
  var peerTimestamp: UInt32? = nil
  var timestampOffset: UInt32? = nil
  /// The guard holder's process id (`tcpcraft __hold-guard`), 0 when none.
  var holderPID: Int32
  /// How long the holder keeps the guard after the last use, in seconds.
  var holdSeconds: Double
  /// Seconds since the epoch.
  var createdAt: Double
  var updatedAt: Double

  var local: Endpoint? {
    IPv4Address(localAddress).map { Endpoint(address: $0.rawValue, port: localPort) }
  }
  var remote: Endpoint? {
    IPv4Address(remoteAddress).map { Endpoint(address: $0.rawValue, port: remotePort) }
  }

  /// `127.0.0.1_8080_57273.json`
  var fileName: String { "\(remoteAddress)_\(remotePort)_\(localPort).json" }
}

/// The directory that holds session files, and reading/writing them.
enum SessionStore {
  /// `$TCPCRAFT_SESSION_DIR`, else `$XDG_RUNTIME_DIR/tcpcraft`, else `/run/tcpcraft` for root,
  /// else `/tmp/tcpcraft-<uid>`.
  static var directory: String {
    let environment = ProcessInfo.processInfo.environment
    if let explicit = environment["TCPCRAFT_SESSION_DIR"], !explicit.isEmpty { return explicit }
    if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/tcpcraft" }
    if getuid() == 0, FileManager.default.isWritableFile(atPath: "/run") { return "/run/tcpcraft" }
    return "/tmp/tcpcraft-\(getuid())"
  }

  static func path(for session: Session) -> String { directory + "/" + session.fileName }

  static func save(_ session: Session) throws {
    let manager = FileManager.default
    try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(session)
    let url = URL(fileURLWithPath: path(for: session))
    try data.write(to: url, options: .atomic)
  }

  static func load(path: String) -> Session? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return try? JSONDecoder().decode(Session.self, from: data)
  }

  /// Every saved session, newest first.
  static func all() -> [(path: String, session: Session)] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    var found: [(String, Session)] = []
    for name in names where name.hasSuffix(".json") {
      let path = directory + "/" + name
      if let session = load(path: path) { found.append((path, session)) }
    }
    return found.sorted { $0.1.updatedAt > $1.1.updatedAt }
  }

  /// The session for `remote` (and `localPort` when given), or the newest one when `remote` is nil.
  static func find(remote: HostPort?, localPort: UInt16?) -> (path: String, session: Session)? {
    all().first { entry in
      if let remote {
        guard entry.session.remoteAddress == remote.address.description,
          entry.session.remotePort == remote.port
        else { return false }
      }
      if let localPort, entry.session.localPort != localPort { return false }
      return true
    }
  }

  static func remove(path: String) {
    try? FileManager.default.removeItem(atPath: path)
  }

  static var now: Double { Date().timeIntervalSince1970 }
}
