// The IPv6 twin of syn.c: the hand-written fill and parse of an 80-byte IPv6 SYN (the same TCP
// header and options as the IPv4 one), what a C programmer would write.
#include "syn_common.h"

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
  syn_fill_tcp(t, p->source_port, p->destination_port, seq, p->ack, p->window, p->mss, p->ts_value, p->ts_echo,
               p->wscale);
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
  if (syn_parse_tcp(t, tlen, f) != 0) return -1;
  uint32_t sum = sum_words(b + 8, 32, 0) + (uint32_t)tlen + 6;
  f->tcp_checksum_ok = finish(sum_words(t, tlen, sum)) == 0;
  return 0;
}
