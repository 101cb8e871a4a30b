import Foundation

/// Finds an executable product of this package (such as `tcpcraft`) for tests that run it as a
/// user does.
public enum BuiltExecutable {
  /// The path of `$<environmentVariable>` when set; else the first executable file `name` next to
  /// the test bundle or up to four directories above it (the build directory), else
  /// `<package>/.build/debug/<name>`. `nil` when none exists.
  public static func path(named name: String, environmentVariable: String) -> String? {
    if let explicit = ProcessInfo.processInfo.environment[environmentVariable] { return explicit }
    var candidates: [URL] = []
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<5 {
      candidates.append(directory.appendingPathComponent(name))
      directory = directory.deletingLastPathComponent()
    }
    for bundle in Bundle.allBundles {
      var url = bundle.bundleURL
      for _ in 0..<4 {
        url = url.deletingLastPathComponent()
        candidates.append(url.appendingPathComponent(name))
      }
    }
    // From this source file: <package>/Tests/TestSupport/ → <package>/.build/debug/<name>
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    candidates.append(package.appendingPathComponent(".build/debug/\(name)"))
    var isDirectory: ObjCBool = false
    return candidates.first {
      FileManager.default.fileExists(atPath: $0.path, isDirectory: &isDirectory) && !isDirectory.boolValue
        && FileManager.default.isExecutableFile(atPath: $0.path)
    }?.path
  }
}
