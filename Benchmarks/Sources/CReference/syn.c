// The hand-written C a network programmer would write for the 60-byte SYN: fill every byte,
// compute both checksums; a template variant; the RFC 1624 update; and a parser.
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

void cref_syn_fill(uint8_t *b, const struct cref_syn_params *p, uint32_t seq) {
  // IPv4
  b[0] = 0x45;
  b[1] = 0;
  put16(b + 2, CREF_SYN_LENGTH);
  put16(b + 4, p->ipid);
  put16(b + 6, 0x4000);  // DF
  b[8] = p->ttl;
  b[9] = 6;
  put16(b + 10, 0);
  put32(b + 12, p->source);
  put32(b + 16, p->destination);
  put16(b + 10, finish(sum_words(b, 20, 0)));
  // TCP
  uint8_t *t = b + 20;
  put16(t + 0, p->source_port);
  put16(t + 2, p->destination_port);
  put32(t + 4, seq);
  put32(t + 8, p->ack);
  t[12] = 10 << 4;  // data offset 10 words
  t[13] = 0x02;     // SYN
  put16(t + 14, p->window);
  put16(t + 16, 0);
  put16(t + 18, 0);
  // Options: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes).
  t[20] = 2; t[21] = 4; put16(t + 22, p->mss);
  t[24] = 4; t[25] = 2;
  t[26] = 8; t[27] = 10; put32(t + 28, p->ts_value); put32(t + 32, p->ts_echo);
  t[36] = 1;
  t[37] = 3; t[38] = 3; t[39] = p->wscale;
  // Pseudo-header: source, destination, zero + protocol, TCP length.
  uint32_t sum = (p->source >> 16) + (p->source & 0xFFFF) + (p->destination >> 16) +
                 (p->destination & 0xFFFF) + 6 + (CREF_SYN_LENGTH - 20);
  put16(t + 16, finish(sum_words(t, CREF_SYN_LENGTH - 20, sum)));
}

void cref_syn_from_template(uint8_t *out, const uint8_t *template_bytes, uint32_t seq) {
  memcpy(out, template_bytes, CREF_SYN_LENGTH);
  uint8_t *t = out + 20;
  put32(t + 4, seq);
  put16(t + 16, 0);
  uint32_t sum = sum_words(out + 12, 8, 0) + 6 + (CREF_SYN_LENGTH - 20);
  put16(t + 16, finish(sum_words(t, CREF_SYN_LENGTH - 20, sum)));
}

void cref_syn_set_seq_incremental(uint8_t *packet, uint32_t seq) {
  uint8_t *t = packet + 20;
  uint32_t old = get32(t + 4);
  // HC' = ~(~HC + ~m + m') over the two words of the sequence number.
  uint32_t sum = (uint16_t)~get16(t + 16);
  sum += (uint16_t)~(old >> 16) + (uint16_t)~(old & 0xFFFF) + (seq >> 16) + (seq & 0xFFFF);
  put32(t + 4, seq);
  put16(t + 16, finish(sum));
}

int cref_syn_parse(const uint8_t *b, size_t n, struct cref_syn_fields *f) {
  if (n < 20 || (b[0] >> 4) != 4) return -1;
  size_t ihl = (size_t)(b[0] & 0x0F) * 4;
  size_t total = get16(b + 2);
  if (ihl < 20 || ihl > n || total < ihl || total > n) return -1;
  f->ipv4_checksum_ok = finish(sum_words(b, ihl, 0)) == 0;
  f->source = get32(b + 12);
  f->destination = get32(b + 16);
  if (b[9] != 6) return -1;
  const uint8_t *t = b + ihl;
  size_t tlen = total - ihl;
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
  uint32_t sum = sum_words(b + 12, 8, 0) + 6 + (uint32_t)tlen;
  f->tcp_checksum_ok = finish(sum_words(t, tlen, sum)) == 0;
  return 0;
}

// In this file so the update is inlined into the loop, as a C programmer would have it.
uint64_t cref_run_syn_incremental(uint8_t *packet, uint32_t seq0, uint64_t iterations) {
  uint64_t sink = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    cref_syn_set_seq_incremental(packet, seq0 + (uint32_t)i);
    sink ^= (uint64_t)packet[36] << 8 | packet[37];
  }
  return sink;
}

