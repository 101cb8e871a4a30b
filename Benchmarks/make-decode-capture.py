#!/usr/bin/env python3
"""Writes a pcap (Ethernet, microsecond timestamps) of N packets of mixed TCP/IPv4 traffic:
whole connections -- handshake with the options Linux sends (MSS, SACK permitted, timestamps,
window scale), request and response data, pure ACKs, a FIN close on both sides -- and now and then
a reset, over 1000 address/port pairs reused in turn. Checksums are correct. Usage: make-decode-capture.py OUT.pcap [N] (default 500000)."""
import random
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src, dst, sport, dport, seq, ack, flags, window, options=b"", payload=b"", ident=0):
    tcp_len = 20 + len(options)
    offset_flags = ((tcp_len // 4) << 12) | flags
    header = struct.pack("!HHIIHHHH", sport, dport, seq, ack, offset_flags, window, 0, 0) + options
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, tcp_len + len(payload))
    tcp_sum = checksum(pseudo + header + payload)
    header = header[:16] + struct.pack("!H", tcp_sum) + header[18:]
    total = 20 + tcp_len + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    ether = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    return ether + ip + header + payload


def timestamps(value, echo):
    return b"\x01\x01\x08\x0a" + struct.pack("!II", value, echo)


def connection(rng, index):
    # 1000 address/port pairs, reused in turn (as ports are): tcpdump keeps a record per
    # connection it has seen, and with every connection new its lookups grow with the file.
    index = index % 1000
    client = bytes([10, 0, (index >> 8) & 0xFF, index & 0xFF or 1])
    server = bytes([10, 1, 0, 1 + index % 200])
    sport = 32768 + index % 28000
    dport = rng.choice([80, 443, 8080, 5201, 22])
    c_seq = rng.getrandbits(32)
    s_seq = rng.getrandbits(32)
    ts_c = rng.getrandbits(31)
    ts_s = rng.getrandbits(31)
    out = []
    syn_opts = b"\x02\x04\x05\xb4\x04\x02" + b"\x08\x0a" + struct.pack("!II", ts_c, 0) + b"\x01\x03\x03\x07"
    out.append(frame(client, server, sport, dport, c_seq, 0, 0x002, 64240, syn_opts))
    synack_opts = b"\x02\x04\x05\xb4\x04\x02" + b"\x08\x0a" + struct.pack("!II", ts_s, ts_c) + b"\x01\x03\x03\x07"
    c_seq = (c_seq + 1) & 0xFFFFFFFF
    out.append(frame(server, client, dport, sport, s_seq, c_seq, 0x012, 65160, synack_opts))
    s_seq = (s_seq + 1) & 0xFFFFFFFF
    out.append(frame(client, server, sport, dport, c_seq, s_seq, 0x010, 502, timestamps(ts_c + 1, ts_s)))
    for _ in range(rng.randint(1, 4)):
        request = bytes(rng.getrandbits(8) for _ in range(rng.choice([30, 120, 517])))
        out.append(frame(client, server, sport, dport, c_seq, s_seq, 0x018, 502, timestamps(ts_c + 2, ts_s), request))
        c_seq = (c_seq + len(request)) & 0xFFFFFFFF
        out.append(frame(server, client, dport, sport, s_seq, c_seq, 0x010, 509, timestamps(ts_s + 1, ts_c + 2)))
        response = bytes(rng.getrandbits(8) for _ in range(rng.choice([60, 1000, 1448])))
        out.append(frame(server, client, dport, sport, s_seq, c_seq, 0x018, 509, timestamps(ts_s + 2, ts_c + 2), response))
        s_seq = (s_seq + len(response)) & 0xFFFFFFFF
        out.append(frame(client, server, sport, dport, c_seq, s_seq, 0x010, 501, timestamps(ts_c + 3, ts_s + 2)))
    if rng.random() < 0.1:
        out.append(frame(client, server, sport, dport, c_seq, 0, 0x004, 0))
        return out
    out.append(frame(client, server, sport, dport, c_seq, s_seq, 0x011, 501, timestamps(ts_c + 4, ts_s + 2)))
    c_seq = (c_seq + 1) & 0xFFFFFFFF
    out.append(frame(server, client, dport, sport, s_seq, c_seq, 0x011, 509, timestamps(ts_s + 3, ts_c + 4)))
    s_seq = (s_seq + 1) & 0xFFFFFFFF
    out.append(frame(client, server, sport, dport, c_seq, s_seq, 0x010, 501, timestamps(ts_c + 5, ts_s + 3)))
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make-decode-capture.py OUT.pcap [N]")
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500000
    rng = random.Random(13)
    written = 0
    seconds = 1_700_000_000
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        index = 0
        while written < count:
            for data in connection(rng, index):
                if written >= count:
                    break
                micro = written * 7 % 1_000_000
                out.write(struct.pack("<IIII", seconds + written // 100_000, micro, len(data), len(data)))
                out.write(data)
                written += 1
            index += 1


main()
