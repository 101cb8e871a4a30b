// The textbook RFC 1071 §4.1 loop, kept plain on purpose: the "scalar C loop" reference.
#include "CPlainChecksum.h"

__attribute__((noinline))
uint16_t plain_checksum(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t sum = 0;
  while (length > 1) {
    sum += (uint32_t)((p[0] << 8) | p[1]);
    p += 2;
    length -= 2;
  }
  if (length > 0) sum += (uint32_t)p[0] << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return (uint16_t)sum;
}
