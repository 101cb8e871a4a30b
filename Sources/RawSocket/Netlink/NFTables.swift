// nf_tables over NETLINK_NETFILTER: just enough to build a table, a base chain and rules out of
// meta/payload/bitwise/cmp/counter/immediate expressions, in one nfnetlink batch, and to read the
// rules' counters back. Attribute numbers are from <linux/netfilter/nf_tables.h>; the layout was
// verified against the kernel (docs/kernel-facts.md, facts 2 and 3).

/// nf_tables message building (internal to RawSocket; the RST guard is its public face).
enum NFTables {
  /// `NFNL_SUBSYS_NFTABLES`.
  static let subsystem: UInt16 = 10
  /// `NFNL_MSG_BATCH_BEGIN` / `NFNL_MSG_BATCH_END`.
  static let batchBegin: UInt16 = 0x10, batchEnd: UInt16 = 0x11
  /// `NFT_MSG_*`.
  static let newTable: UInt16 = 0, getTable: UInt16 = 1, deleteTable: UInt16 = 2
  static let newChain: UInt16 = 3, newRule: UInt16 = 6, getRule: UInt16 = 7
  /// `NFPROTO_INET`, `NFPROTO_IPV4`.
  static let familyInet: UInt8 = 1, familyIPv4: UInt8 = 2
  /// `NFT_TABLE_F_OWNER`: the table belongs to the netlink socket that created it.
  static let tableFlagOwner: UInt32 = 0x2
  /// `NF_INET_LOCAL_OUT`.
  static let hookLocalOut: UInt32 = 3
  /// Verdicts (`NF_DROP`, `NF_ACCEPT`).
  static let verdictDrop: UInt32 = 0, verdictAccept: UInt32 = 1
  /// `NFT_REG_VERDICT`, `NFT_REG_1`.
  static let registerVerdict: UInt32 = 0, register1: UInt32 = 1
  /// `NFT_META_*` keys.
  static let metaSKUID: UInt32 = 10, metaSKGID: UInt32 = 11, metaNFProto: UInt32 = 15, metaL4Proto: UInt32 = 16
  /// `NFT_PAYLOAD_NETWORK_HEADER`, `NFT_PAYLOAD_TRANSPORT_HEADER`.
  static let payloadNetwork: UInt32 = 1, payloadTransport: UInt32 = 2
  /// `NFT_CMP_EQ`, `NFT_CMP_NEQ`.
  static let compareEqual: UInt32 = 0, compareNotEqual: UInt32 = 1

  /// A message of the nf_tables subsystem with its `nfgenmsg` header.
  static func message(
    _ type: UInt16, family: UInt8, flags: NetlinkMessageFlags = [],
    _ body: (inout NetlinkMessageBuilder) -> Void = { _ in }
  ) -> NetlinkMessageBuilder {
    var message = NetlinkMessageBuilder(type: subsystem << 8 | type, flags: flags)
    message.append(bytes: [family, 0 /* NFNETLINK_V0 */, 0, 0])
    body(&message)
    return message
  }

  /// `NFNL_MSG_BATCH_BEGIN` or `_END` (`res_id` = the nf_tables subsystem, big-endian).
  static func batchMarker(_ type: UInt16) -> NetlinkMessageBuilder {
    var message = NetlinkMessageBuilder(type: type)
    message.append(bytes: [0, 0, UInt8(subsystem >> 8), UInt8(subsystem & 0xFF)])
    return message
  }

  /// Userdata that `nft` shows as `comment "..."` (libnftnl TLV: type 0, length, text + NUL).
  static func commentUserdata(_ text: String) -> [UInt8] {
    var value = Array(text.utf8.prefix(250))
    value.append(0)
    return [0, UInt8(truncatingIfNeeded: value.count)] + value
  }
}

/// One nf_tables expression, appended to a rule's `NFTA_RULE_EXPRESSIONS` list.
enum NFTExpression {
  /// `meta <key>` into register 1.
  case meta(key: UInt32)
  /// `payload` bytes into register 1.
  case payload(base: UInt32, offset: UInt32, length: UInt32)
  /// `bitwise`: register 1 = (register 1 & mask) ^ xor.
  case bitwise(mask: [UInt8], xor: [UInt8])
  /// `cmp` register 1 against data (big-endian for payload data, host order for meta ids).
  case compare(operation: UInt32, data: [UInt8])
  /// `counter`.
  case counter
  /// `immediate` verdict.
  case verdict(UInt32)

  func append(to message: inout NetlinkMessageBuilder) {
    message.appendNested(type: 1 /* NFTA_LIST_ELEM */) { element in
      switch self {
      case .meta(let key):
        element.appendAttribute(type: 1 /* NFTA_EXPR_NAME */, string: "meta")
        element.appendNested(type: 2 /* NFTA_EXPR_DATA */) { data in
          data.appendAttribute(type: 1 /* NFTA_META_DREG */, bigEndianUInt32: NFTables.register1)
          data.appendAttribute(type: 2 /* NFTA_META_KEY */, bigEndianUInt32: key)
        }
      case .payload(let base, let offset, let length):
        element.appendAttribute(type: 1, string: "payload")
        element.appendNested(type: 2) { data in
          data.appendAttribute(type: 1 /* NFTA_PAYLOAD_DREG */, bigEndianUInt32: NFTables.register1)
          data.appendAttribute(type: 2 /* NFTA_PAYLOAD_BASE */, bigEndianUInt32: base)
          data.appendAttribute(type: 3 /* NFTA_PAYLOAD_OFFSET */, bigEndianUInt32: offset)
          data.appendAttribute(type: 4 /* NFTA_PAYLOAD_LEN */, bigEndianUInt32: length)
        }
      case .bitwise(let mask, let xor):
        element.appendAttribute(type: 1, string: "bitwise")
        element.appendNested(type: 2) { data in
          data.appendAttribute(type: 1 /* NFTA_BITWISE_SREG */, bigEndianUInt32: NFTables.register1)
          data.appendAttribute(type: 2 /* NFTA_BITWISE_DREG */, bigEndianUInt32: NFTables.register1)
          data.appendAttribute(type: 3 /* NFTA_BITWISE_LEN */, bigEndianUInt32: UInt32(mask.count))
          data.appendNested(type: 4 /* NFTA_BITWISE_MASK */) {
            $0.appendAttribute(type: 1 /* NFTA_DATA_VALUE */, payload: mask)
          }
          data.appendNested(type: 5 /* NFTA_BITWISE_XOR */) {
            $0.appendAttribute(type: 1 /* NFTA_DATA_VALUE */, payload: xor)
          }
        }
      case .compare(let operation, let value):
        element.appendAttribute(type: 1, string: "cmp")
        element.appendNested(type: 2) { data in
          data.appendAttribute(type: 1 /* NFTA_CMP_SREG */, bigEndianUInt32: NFTables.register1)
          data.appendAttribute(type: 2 /* NFTA_CMP_OP */, bigEndianUInt32: operation)
          data.appendNested(type: 3 /* NFTA_CMP_DATA */) {
            $0.appendAttribute(type: 1 /* NFTA_DATA_VALUE */, payload: value)
          }
        }
      case .counter:
        element.appendAttribute(type: 1, string: "counter")
        element.appendNested(type: 2) { data in
          data.appendAttribute(type: 1 /* NFTA_COUNTER_BYTES */, bigEndianUInt64: 0)
          data.appendAttribute(type: 2 /* NFTA_COUNTER_PACKETS */, bigEndianUInt64: 0)
        }
      case .verdict(let code):
        element.appendAttribute(type: 1, string: "immediate")
        element.appendNested(type: 2) { data in
          data.appendAttribute(type: 1 /* NFTA_IMMEDIATE_DREG */, bigEndianUInt32: NFTables.registerVerdict)
          data.appendNested(type: 2 /* NFTA_IMMEDIATE_DATA */) { immediate in
            immediate.appendNested(type: 2 /* NFTA_DATA_VERDICT */) {
              $0.appendAttribute(type: 1 /* NFTA_VERDICT_CODE */, bigEndianUInt32: code)
            }
          }
        }
      }
    }
  }
}

/// A rule's counter and verdict, read back from an `NFT_MSG_GETRULE` dump.
struct NFTRuleSummary: Hashable, Sendable {
  var handle: UInt64
  var verdict: UInt32?
  var packets: UInt64
  var bytes: UInt64

  /// Reads one `NFT_MSG_NEWRULE` message (as a dump returns it).
  init?(_ message: NetlinkMessage, table: String) {
    let attributes = message.attributes(afterHeaderOf: 4)
    guard attributes[1 /* NFTA_RULE_TABLE */]?.string == table,
      let expressions = attributes[4 /* NFTA_RULE_EXPRESSIONS */]
    else { return nil }
    handle = attributes[3 /* NFTA_RULE_HANDLE */]?.bigEndianUInt64 ?? 0
    verdict = nil
    packets = 0
    bytes = 0
    for element in expressions.nested where element.type == 1 {
      let parts = element.nested
      guard let name = parts[1]?.string, let data = parts[2]?.nested else { continue }
      switch name {
      case "counter":
        bytes = data[1]?.bigEndianUInt64 ?? 0
        packets = data[2]?.bigEndianUInt64 ?? 0
      case "immediate":
        if let code = data[2]?.nested[2]?.nested[1]?.bigEndianUInt32 { verdict = code }
      default: break
      }
    }
  }
}
