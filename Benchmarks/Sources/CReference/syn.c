// The hand-written C a network programmer would write for the 60-byte SYN: fill every byte,
// compute both checksums; a template variant; the RFC 1624 update; and a parser.
#include "syn_common.h"

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
  syn_fill_tcp(t, p->source_port, p->destination_port, seq, p->ack, p->window, p->mss, p->ts_value, p->ts_echo,
               p->wscale);
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
  if (syn_parse_tcp(t, tlen, f) != 0) return -1;
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

