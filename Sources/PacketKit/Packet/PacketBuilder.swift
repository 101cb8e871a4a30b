/// The result builder behind `Packet { ... }`: each line is a header, a payload (`[UInt8]` or a
/// `String` as UTF-8), a `Layer` or a `Packet`; `if`, `if/else`, `switch` and `for` work.
///
/// ```swift
/// let syn = Packet {
///   IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1")
///   TCPHeader(sourcePort: 57273, destinationPort: 8080, flags: .syn)
/// }
/// ```
@resultBuilder
public enum PacketBuilder {
  public static func buildExpression(_ expression: some LayerConvertible) -> [Layer] {
    var layers: [Layer] = []
    expression.appendLayers(to: &layers)
    return layers
  }

  public static func buildBlock(_ components: [Layer]...) -> [Layer] { components.flatMap { $0 } }

  public static func buildOptional(_ component: [Layer]?) -> [Layer] { component ?? [] }

  public static func buildEither(first component: [Layer]) -> [Layer] { component }

  public static func buildEither(second component: [Layer]) -> [Layer] { component }

  public static func buildArray(_ components: [[Layer]]) -> [Layer] { components.flatMap { $0 } }

  public static func buildLimitedAvailability(_ component: [Layer]) -> [Layer] { component }
}
