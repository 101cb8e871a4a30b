// What syn.c (IPv4) and syn6.c (IPv6) share: byte helpers, the RFC 1071 sum, and the TCP
// header of the SYN (fill and parse, options included). Static inline, so each file's fill and
// parse compile to one function as before (the C reference is what a C programmer would write).
#ifndef CREF_SYN_COMMON_H
#define CREF_SYN_COMMON_H
#include "CReference.h"
#include <string.h>

static inline void put16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
}
static inline void put32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}
static inline uint16_t get16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t get32(const uint8_t *b) { return (uint32_t)get16(b) << 16 | get16(b + 2); }

// Sum of big-endian 16-bit words (even n), unfolded.
static inline uint32_t sum_words(const uint8_t *b, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(b[i] << 8 | b[i + 1]);
  if (n & 1) sum += (uint32_t)b[n - 1] << 8;
  return sum;
}
static inline uint16_t finish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return (uint16_t)~sum;
}

// The 40-byte TCP header of the SYN at t (checksum 0): MSS, SACK-permitted, timestamps, NOP,
// window scale (Linux's order). The caller computes the checksum over its pseudo-header.
static inline void syn_fill_tcp(uint8_t *t, uint16_t source_port, uint16_t destination_port, uint32_t seq,
                                uint32_t ack, uint16_t window, uint16_t mss, uint32_t ts_value,
                                uint32_t ts_echo, uint8_t wscale) {
  put16(t + 0, source_port);
  put16(t + 2, destination_port);
  put32(t + 4, seq);
  put32(t + 8, ack);
  t[12] = 10 << 4;  // data offset 10 words
  t[13] = 0x02;     // SYN
  put16(t + 14, window);
  put16(t + 16, 0);
  put16(t + 18, 0);
  // Options: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes).
  t[20] = 2; t[21] = 4; put16(t + 22, mss);
  t[24] = 4; t[25] = 2;
  t[26] = 8; t[27] = 10; put32(t + 28, ts_value); put32(t + 32, ts_echo);
  t[36] = 1;
  t[37] = 3; t[38] = 3; t[39] = wscale;
}

// Reads the TCP header at t (tlen bytes of segment) into f: fields and options; -1 when the
// lengths or an option are malformed. The checksum is the caller's (it needs the pseudo-header).
static inline int syn_parse_tcp(const uint8_t *t, size_t tlen, struct cref_syn_fields *f) {
  if (tlen < 20) return -1;
  size_t off = (size_t)(t[12] >> 4) * 4;
  if (off < 20 || off > tlen) return -1;
  f->source_port = get16(t);
  f->destination_port = get16(t + 2);
  f->seq = get32(t + 4);
  f->ack = get32(t + 8);
  f->flags = t[13];
  f->window = get16(t + 14);
  f->mss = 0;
  f->wscale = 0;
  f->sack_permitted = 0;
  f->has_timestamps = 0;
  f->ts_value = f->ts_echo = 0;
  size_t i = 20;
  while (i < off) {
    uint8_t kind = t[i];
    if (kind == 0) break;
    if (kind == 1) { i++; continue; }
    if (i + 1 >= off) return -1;
    uint8_t len = t[i + 1];
    if (len < 2 || i + len > off) return -1;
    switch (kind) {
    case 2: if (len == 4) f->mss = get16(t + i + 2); break;
    case 3: if (len == 3) f->wscale = t[i + 2]; break;
    case 4: f->sack_permitted = 1; break;
    case 8:
      if (len == 10) {
        f->has_timestamps = 1;
        f->ts_value = get32(t + i + 2);
        f->ts_echo = get32(t + i + 6);
      }
      break;
    default: break;
    }
    i += len;
  }
  return 0;
}

#endif
