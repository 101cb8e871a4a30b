#ifndef CREFERENCE_H
#define CREFERENCE_H
// C references for the tcpcraft benchmarks. Every checksum function returns the folded
// ones'-complement sum of `length` bytes in network order, NOT complemented (what the plain
// RFC 1071 loop accumulates), for any length and alignment.
#include <stddef.h>
#include <stdint.h>

// ---- Internet checksum kernels (checksum_best.c), each a separate, non-inlined function ----

/// 64-bit add-with-carry (x86 `adc` chain; portable C elsewhere), -O3.
uint16_t best_checksum_c64(const void *data, size_t length);
/// AVX2: 16-bit words, sign-flipped and summed pairwise by vpmaddwd into 32-bit lanes.
uint16_t best_checksum_avx2(const void *data, size_t length);
/// AVX-VNNI (256-bit vpdpbusd): even and odd bytes summed into 32-bit lanes, 2 ops per vector.
uint16_t best_checksum_avxvnni(const void *data, size_t length);
/// AVX-512BW: as AVX2 on 64-byte vectors, masked loads for the tail.
uint16_t best_checksum_avx512(const void *data, size_t length);
/// AVX-512 VNNI (512-bit vpdpbusd), masked loads for the tail.
uint16_t best_checksum_avx512vnni(const void *data, size_t length);

/// Which kernels this CPU runs (bit i set: kernel i of `cref_kernel` is available).
enum cref_kernel {
  CREF_PLAIN = 0,
  CREF_C64 = 1,
  CREF_AVX2 = 2,
  CREF_AVXVNNI = 3,
  CREF_AVX512 = 4,
  CREF_AVX512VNNI = 5,
  CREF_KERNEL_COUNT = 6
};
int cref_kernel_available(int kernel);
const char *cref_kernel_name(int kernel);
/// Runs `kernel` once (for correctness checks).
uint16_t cref_checksum(int kernel, const void *data, size_t length);
/// Calls `kernel` `iterations` times on the same buffer (a C loop, no Swift in it), XOR-ing
/// the results into the returned value so nothing can be optimised away.
uint64_t cref_run_checksum(int kernel, const void *data, size_t length, uint64_t iterations);

// ---- The 60-byte SYN (syn.c) ----
// IPv4 (20 bytes, DF, TTL 64, ID `ipid`) + TCP (40 bytes) with options
// MSS, SACK-permitted, timestamps, NOP, window scale: the order Linux uses.
struct cref_syn_params {
  uint32_t source;       // host order
  uint32_t destination;  // host order
  uint16_t source_port;
  uint16_t destination_port;
  uint32_t ack;
  uint16_t window;
  uint16_t mss;
  uint16_t ipid;
  uint8_t ttl;
  uint8_t wscale;
  uint32_t ts_value;
  uint32_t ts_echo;
};
#define CREF_SYN_LENGTH 60

/// Hand-written fill of every byte of the SYN, both checksums computed from scratch.
void cref_syn_fill(uint8_t *out, const struct cref_syn_params *p, uint32_t seq);
/// From a template made by `cref_syn_fill`: copy, write seq, recompute the TCP checksum.
void cref_syn_from_template(uint8_t *out, const uint8_t *template_bytes, uint32_t seq);
/// RFC 1624 (eqn. 3) update of the TCP checksum in `packet` for a new sequence number.
void cref_syn_set_seq_incremental(uint8_t *packet, uint32_t seq);

/// Fields read by the hand-written parser.
struct cref_syn_fields {
  uint32_t source, destination, seq, ack;
  uint16_t source_port, destination_port, window, mss;
  uint8_t flags, wscale, sack_permitted, has_timestamps;
  uint32_t ts_value, ts_echo;
  uint8_t ipv4_checksum_ok, tcp_checksum_ok;
};
/// Hand-written parse of an IPv4+TCP packet: validates lengths, walks the options, verifies
/// both checksums. Returns 0 on success, -1 on malformed input.
int cref_syn_parse(const uint8_t *bytes, size_t length, struct cref_syn_fields *out);

// ---- The 80-byte IPv6 SYN (syn6.c) ----
// IPv6 (40 bytes, hop limit `hop_limit`, flow label `flow_label`, next header TCP) + the same
// 40-byte TCP header and options as the IPv4 SYN; the TCP checksum over the IPv6 pseudo-header
// (RFC 8200 §8.1).
struct cref_syn6_params {
  uint8_t source[16];
  uint8_t destination[16];
  uint32_t flow_label;
  uint16_t source_port;
  uint16_t destination_port;
  uint32_t ack;
  uint16_t window;
  uint16_t mss;
  uint8_t hop_limit;
  uint8_t wscale;
  uint32_t ts_value;
  uint32_t ts_echo;
};
#define CREF_SYN6_LENGTH 80

/// Hand-written fill of every byte of the IPv6 SYN, the TCP checksum computed from scratch.
void cref_syn6_fill(uint8_t *out, const struct cref_syn6_params *p, uint32_t seq);
/// Hand-written parse of an IPv6+TCP packet (no extension headers): validates lengths, walks the
/// options, verifies the TCP checksum (`ipv4_checksum_ok` is set to 1: IPv6 has none).
/// Returns 0 on success, -1 on malformed input.
int cref_syn6_parse(const uint8_t *bytes, size_t length, struct cref_syn_fields *out);
uint64_t cref_run_syn6_fill(uint8_t *out, const struct cref_syn6_params *p, uint32_t seq0, uint64_t iterations);
uint64_t cref_run_syn6_parse(const uint8_t *bytes, size_t length, uint64_t iterations);

/// Timing loops written in C: each runs `iterations` packets with seq = seq0 + i and returns
/// an XOR of bytes that depend on every packet (the checksums), so nothing is optimised away.
uint64_t cref_run_syn_fill(uint8_t *out, const struct cref_syn_params *p, uint32_t seq0, uint64_t iterations);
uint64_t cref_run_syn_template(uint8_t *out, const uint8_t *template_bytes, uint32_t seq0, uint64_t iterations);
uint64_t cref_run_syn_incremental(uint8_t *packet, uint32_t seq0, uint64_t iterations);
uint64_t cref_run_syn_parse(const uint8_t *bytes, size_t length, uint64_t iterations);

#endif
