#!/usr/bin/env python3
# Produces the byte fixtures in Fixtures.swift with scapy (pip install scapy), independently of
# PacketKit, and prints tcpdump's reading of each (tcpdump -nn -S -t -v -r). Run:
#   python3 make_packetkit_fixtures.py > /tmp/fixtures.txt
# The Swift literals were pasted from its output; the tcpdump lines above them come from tcpdump.
import subprocess, tempfile, os
from scapy.all import IP, TCP, UDP, ICMP, Ether, Raw, wrpcap, IPOption_RR, IPOption_Timestamp, IPOption_Router_Alert, IPOption_NOP, IPOption_EOL

fixtures = {}
fixtures["classicSYN"] = IP(src="127.0.0.1", dst="127.0.0.1", id=0, flags="DF", ttl=64) / TCP(
    sport=57273, dport=8080, seq=84347051, flags="S", window=65535,
    options=[("MSS", 16344), ("NOP", None), ("WScale", 5), ("NOP", None), ("NOP", None),
             ("Timestamp", (1525310591, 0)), ("SAckOK", b""), ("EOL", None)])
fixtures["dataSegment"] = IP(src="10.0.0.1", dst="10.0.0.2", id=0x1234, flags="DF", ttl=63, tos=0xb9) / TCP(
    sport=40000, dport=80, seq=1000, ack=2000, flags="PA", window=502, urgptr=0,
    options=[("NOP", None), ("NOP", None), ("Timestamp", (7, 9))]) / Raw(b"GET / HTTP/1.0\r\n\r\n")
# Every flag (NS included), reserved bits 0b101, SACK blocks, an unknown option, a bad checksum.
fixtures["everyFlag"] = IP(src="192.168.1.2", dst="192.168.1.3", id=7, ttl=1) / TCP(
    sport=1, dport=65535, seq=0xFFFFFFFF, ack=0x80000000, flags=0x1FF, reserved=5, window=0, urgptr=0xBEEF,
    chksum=0xDEAD,
    options=[("SAck", (100, 200, 300, 400)), (253, b"\x12\x34"), ("NOP", None), ("NOP", None)])
# An option whose length lies (kind 2, length 9 > the 4 bytes left): Raw TCP header built by hand.
fixtures["lyingOption"] = IP(src="127.0.0.1", dst="127.0.0.2", id=1) / TCP(
    sport=1234, dport=80, seq=1, flags="S", window=1024, options=[("NOP", None), ("NOP", None), (2, b"\x05\xb4\x00\x00\x00\x00\x00")])
fixtures["udp"] = IP(src="10.1.2.3", dst="10.3.2.1", id=0xabcd, ttl=17) / UDP(sport=5353, dport=53) / Raw(b"hello, udp")
fixtures["icmpEcho"] = IP(src="127.0.0.1", dst="127.0.0.1", id=0x4242, flags="DF") / ICMP(type=8, code=0, id=0x1a2b, seq=3) / Raw(bytes(range(16)))
quoted = IP(src="10.0.0.2", dst="10.0.0.1", id=99, ttl=64) / UDP(sport=33434, dport=33435) / Raw(b"probe!!!")
fixtures["icmpUnreachable"] = IP(src="10.0.0.1", dst="10.0.0.2", id=5, ttl=64) / ICMP(type=3, code=3) / quoted
fixtures["ipOptions"] = IP(src="172.16.0.1", dst="172.16.0.2", id=3, ttl=9, options=[
    IPOption_NOP(), IPOption_RR(pointer=8, routers=["1.2.3.4", "0.0.0.0"]),
    IPOption_Router_Alert(alert=0),
    IPOption_NOP(),
    IPOption_EOL()]) / TCP(sport=7, dport=9, seq=5, flags="R", window=0)
fixtures["ipTimestamp"] = IP(src="10.9.8.7", dst="10.7.8.9", id=77, ttl=2, options=[
    IPOption_Timestamp(pointer=13, oflw=3, flg=1, internet_address="10.0.0.9", timestamp=0x01020304)]) / ICMP(type=8, id=1, seq=2)
fixtures["ethernetSYNACK"] = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(
    src="10.0.0.2", dst="10.0.0.1", id=0, flags="DF", ttl=64) / TCP(
    sport=80, dport=40000, seq=3000, ack=1001, flags="SA", window=65160,
    options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (11, 7)), ("NOP", None), ("WScale", 7)])

for name, pkt in fixtures.items():
    raw = bytes(pkt)
    with tempfile.NamedTemporaryFile(suffix=".pcap", delete=False) as f:
        path = f.name
    wrpcap(path, [pkt])
    out = subprocess.run(["tcpdump", "-nn", "-S", "-t", "-v", "-r", path], capture_output=True, text=True).stdout
    short = subprocess.run(["tcpdump", "-nn", "-S", "-t", "-r", path], capture_output=True, text=True).stdout
    os.unlink(path)
    print(f"// {name}: {len(raw)} bytes")
    for line in (short + out).strip().splitlines():
        print("// " + line.strip())
    print(f"let {name}: [UInt8] = [")
    for i in range(0, len(raw), 16):
        print("  " + ", ".join(f"0x{b:02x}" for b in raw[i:i+16]) + ",")
    print("]\n")
