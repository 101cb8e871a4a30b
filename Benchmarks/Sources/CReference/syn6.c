// The IPv6 twin of syn.c: the hand-written fill and parse of an 80-byte IPv6 SYN (the same TCP
// header and options as the IPv4 one), what a C programmer would write.
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

void cref_syn6_fill(uint8_t *b, const struct cref_syn6_params *p, uint32_t seq) {
  // IPv6: version 6, traffic class 0, flow label; payload length; next header TCP; hop limit.
  put32(b, 0x60000000u | (p->flow_label & 0xFFFFF));
  put16(b + 4, CREF_SYN6_LENGTH - 40);
  b[6] = 6;
  b[7] = p->hop_limit;
  memcpy(b + 8, p->source, 16);
  memcpy(b + 24, p->destination, 16);
  // TCP
  uint8_t *t = b + 40;
  put16(t + 0, p->source_port);
  put16(t + 2, p->destination_port);
  put32(t + 4, seq);
  put32(t + 8, p->ack);
  t[12] = 10 << 4;
  t[13] = 0x02;
  put16(t + 14, p->window);
  put16(t + 16, 0);
  put16(t + 18, 0);
  t[20] = 2; t[21] = 4; put16(t + 22, p->mss);
  t[24] = 4; t[25] = 2;
  t[26] = 8; t[27] = 10; put32(t + 28, p->ts_value); put32(t + 32, p->ts_echo);
  t[36] = 1;
  t[37] = 3; t[38] = 3; t[39] = p->wscale;
  // Pseudo-header: source, destination, upper-layer length (32 bits), zero + next header.
  uint32_t sum = sum_words(b + 8, 32, 0) + (CREF_SYN6_LENGTH - 40) + 6;
  put16(t + 16, finish(sum_words(t, CREF_SYN6_LENGTH - 40, sum)));
}

int cref_syn6_parse(const uint8_t *b, size_t n, struct cref_syn_fields *f) {
  if (n < 40 || (b[0] >> 4) != 6) return -1;
  size_t plen = get16(b + 4);
  if (40 + plen > n || b[6] != 6) return -1;
  f->ipv4_checksum_ok = 1;
  f->source = get32(b + 20);       // low 32 bits of each address (the struct is IPv4-sized)
  f->destination = get32(b + 36);
  const uint8_t *t = b + 40;
  size_t tlen = plen;
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
  uint32_t sum = sum_words(b + 8, 32, 0) + (uint32_t)tlen + 6;
  f->tcp_checksum_ok = finish(sum_words(t, tlen, sum)) == 0;
  return 0;
}
