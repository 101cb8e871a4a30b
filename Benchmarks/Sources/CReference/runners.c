// Timing loops written in C. The functions they call live in other translation units (no LTO),
// so every iteration really calls them, as the Swift side calls PacketKit.
#include "CReference.h"
#include "CPlainChecksum.h"

typedef uint16_t (*kernel_fn)(const void *, size_t);

static kernel_fn kernel_function(int kernel) {
  switch (kernel) {
  case CREF_PLAIN: return plain_checksum;
  case CREF_C64: return best_checksum_c64;
  case CREF_AVX2: return best_checksum_avx2;
  case CREF_AVXVNNI: return best_checksum_avxvnni;
  case CREF_AVX512: return best_checksum_avx512;
  case CREF_AVX512VNNI: return best_checksum_avx512vnni;
  default: return 0;
  }
}

const char *cref_kernel_name(int kernel) {
  switch (kernel) {
  case CREF_PLAIN: return "C plain 16-bit loop -O2";
  case CREF_C64: return "C 64-bit adc -O3";
  case CREF_AVX2: return "C AVX2 vpmaddwd";
  case CREF_AVXVNNI: return "C AVX-VNNI vpdpbusd";
  case CREF_AVX512: return "C AVX-512BW vpmaddwd";
  case CREF_AVX512VNNI: return "C AVX-512 VNNI vpdpbusd";
  default: return "?";
  }
}

uint16_t cref_checksum(int kernel, const void *data, size_t length) {
  if (!cref_kernel_available(kernel)) return 0;
  return kernel_function(kernel)(data, length);
}

// One loop per kernel with a direct call, so the C side pays no indirect-call cost.
#define RUN(fn)                                                             \
  do {                                                                      \
    uint64_t sink = 0;                                                      \
    for (uint64_t i = 0; i < iterations; i++) sink ^= fn(data, length) + i; \
    return sink;                                                            \
  } while (0)

uint64_t cref_run_checksum(int kernel, const void *data, size_t length, uint64_t iterations) {
  if (!cref_kernel_available(kernel)) return 0;
  switch (kernel) {
  case CREF_PLAIN: RUN(plain_checksum);
  case CREF_C64: RUN(best_checksum_c64);
  case CREF_AVX2: RUN(best_checksum_avx2);
  case CREF_AVXVNNI: RUN(best_checksum_avxvnni);
  case CREF_AVX512: RUN(best_checksum_avx512);
  case CREF_AVX512VNNI: RUN(best_checksum_avx512vnni);
  default: return 0;
  }
}

uint64_t cref_run_syn_fill(uint8_t *out, const struct cref_syn_params *p, uint32_t seq0, uint64_t iterations) {
  uint64_t sink = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    cref_syn_fill(out, p, seq0 + (uint32_t)i);
    sink ^= (uint64_t)out[10] << 24 | (uint64_t)out[11] << 16 | (uint64_t)out[36] << 8 | out[37];
  }
  return sink;
}

uint64_t cref_run_syn_template(uint8_t *out, const uint8_t *template_bytes, uint32_t seq0, uint64_t iterations) {
  uint64_t sink = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    cref_syn_from_template(out, template_bytes, seq0 + (uint32_t)i);
    sink ^= (uint64_t)out[36] << 8 | out[37];
  }
  return sink;
}

uint64_t cref_run_syn_parse(const uint8_t *bytes, size_t length, uint64_t iterations) {
  uint64_t sink = 0;
  struct cref_syn_fields f;
  for (uint64_t i = 0; i < iterations; i++) {
    if (cref_syn_parse(bytes, length, &f) == 0)
      sink += f.seq ^ f.mss ^ f.ts_value ^ (uint64_t)(f.ipv4_checksum_ok + f.tcp_checksum_ok) + i;
  }
  return sink;
}

uint64_t cref_run_syn6_fill(uint8_t *out, const struct cref_syn6_params *p, uint32_t seq0, uint64_t iterations) {
  uint64_t sink = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    cref_syn6_fill(out, p, seq0 + (uint32_t)i);
    sink ^= (uint64_t)out[56] << 8 | out[57];
  }
  return sink;
}

uint64_t cref_run_syn6_parse(const uint8_t *bytes, size_t length, uint64_t iterations) {
  uint64_t sink = 0;
  struct cref_syn_fields f;
  for (uint64_t i = 0; i < iterations; i++) {
    if (cref_syn6_parse(bytes, length, &f) == 0)
      sink += f.seq ^ f.mss ^ f.ts_value ^ (uint64_t)(f.ipv4_checksum_ok + f.tcp_checksum_ok) + i;
  }
  return sink;
}
