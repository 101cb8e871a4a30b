// Internet checksum kernels. See include/CInternetChecksum.h for the contract.
//
// All kernels sum little-endian words of 16, 32 or 64 bits that start at even offsets from the
// beginning of the buffer; since 2^16 = 1 (mod 0xFFFF) that is the same ones'-complement sum as
// adding little-endian 16-bit words, which is the byte-swapped network-order sum.
#include "CInternetChecksum.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CIC_X86 1
#endif

static inline uint64_t cic_add_carry(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s + (s < b);  // end-around carry: never wraps to 0 for a positive sum
}

static inline uint16_t cic_fold(uint64_t s) {
  s = (s & 0xFFFFFFFFu) + (s >> 32);
  s = (s & 0xFFFFFFFFu) + (s >> 32);
  s = (s & 0xFFFFu) + (s >> 16);
  s = (s & 0xFFFFu) + (s >> 16);
  s = (s & 0xFFFFu) + (s >> 16);
  return (uint16_t)s;
}

// Scalar: four independent 64-bit add-with-carry chains, then the tail in 8/4/2/1 steps.
static inline uint64_t cic_sum_scalar(const uint8_t *p, size_t n, uint64_t acc) {
  uint64_t a0 = acc, a1 = 0, a2 = 0, a3 = 0;
  while (n >= 32) {
    uint64_t w0, w1, w2, w3;
    memcpy(&w0, p, 8);
    memcpy(&w1, p + 8, 8);
    memcpy(&w2, p + 16, 8);
    memcpy(&w3, p + 24, 8);
    a0 = cic_add_carry(a0, w0);
    a1 = cic_add_carry(a1, w1);
    a2 = cic_add_carry(a2, w2);
    a3 = cic_add_carry(a3, w3);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    a0 = cic_add_carry(a0, w);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    a1 = cic_add_carry(a1, w);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    a2 = cic_add_carry(a2, w);
    p += 2;
    n -= 2;
  }
  if (n) a3 = cic_add_carry(a3, *p);  // odd byte: low byte of a little-endian word
  return cic_add_carry(cic_add_carry(a0, a1), cic_add_carry(a2, a3));
}

uint16_t cic_checksum_scalar(const void *data, size_t length) {
  return cic_fold(cic_sum_scalar((const uint8_t *)data, length, 0));
}

#ifdef CIC_X86
int cic_cpu_has_avx2(void) { return __builtin_cpu_supports("avx2"); }
int cic_cpu_has_avx512bw(void) {
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f");
}

// A 64-bit lane accumulates 32-bit halves; it cannot overflow before 2^32 iterations, and the
// callers feed at most CIC_CHUNK bytes per call.
#define CIC_CHUNK ((size_t)1 << 30)

__attribute__((target("avx2")))
static uint64_t cic_sum_avx2(const uint8_t *p, size_t n) {
  const __m256i mask = _mm256_set1_epi64x(0xFFFFFFFF);
  __m256i lo0 = _mm256_setzero_si256(), hi0 = _mm256_setzero_si256();
  __m256i lo1 = _mm256_setzero_si256(), hi1 = _mm256_setzero_si256();
  while (n >= 64) {
    __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    lo0 = _mm256_add_epi64(lo0, _mm256_and_si256(v0, mask));
    hi0 = _mm256_add_epi64(hi0, _mm256_srli_epi64(v0, 32));
    lo1 = _mm256_add_epi64(lo1, _mm256_and_si256(v1, mask));
    hi1 = _mm256_add_epi64(hi1, _mm256_srli_epi64(v1, 32));
    p += 64;
    n -= 64;
  }
  if (n >= 32) {
    __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
    lo0 = _mm256_add_epi64(lo0, _mm256_and_si256(v0, mask));
    hi0 = _mm256_add_epi64(hi0, _mm256_srli_epi64(v0, 32));
    p += 32;
    n -= 32;
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(lo0, hi0), _mm256_add_epi64(lo1, hi1));
  uint64_t lanes[4];
  _mm256_storeu_si256((__m256i *)lanes, s);
  uint64_t acc = cic_add_carry(cic_add_carry(lanes[0], lanes[1]), cic_add_carry(lanes[2], lanes[3]));
  return cic_sum_scalar(p, n, acc);
}

__attribute__((target("avx512f,avx512bw")))
static uint64_t cic_sum_avx512(const uint8_t *p, size_t n) {
  const __m512i mask = _mm512_set1_epi64(0xFFFFFFFF);
  __m512i lo0 = _mm512_setzero_si512(), hi0 = _mm512_setzero_si512();
  __m512i lo1 = _mm512_setzero_si512(), hi1 = _mm512_setzero_si512();
  while (n >= 128) {
    __m512i v0 = _mm512_loadu_si512((const void *)p);
    __m512i v1 = _mm512_loadu_si512((const void *)(p + 64));
    lo0 = _mm512_add_epi64(lo0, _mm512_and_si512(v0, mask));
    hi0 = _mm512_add_epi64(hi0, _mm512_srli_epi64(v0, 32));
    lo1 = _mm512_add_epi64(lo1, _mm512_and_si512(v1, mask));
    hi1 = _mm512_add_epi64(hi1, _mm512_srli_epi64(v1, 32));
    p += 128;
    n -= 128;
  }
  if (n >= 4) {
    // The last 4...127 bytes: up to two masked loads of whole 32-bit words (no overread).
    size_t words = n / 4;
    __mmask16 m0 = (__mmask16)(words >= 16 ? 0xFFFF : ((1u << words) - 1));
    __m512i v0 = _mm512_maskz_loadu_epi32(m0, (const void *)p);
    lo0 = _mm512_add_epi64(lo0, _mm512_and_si512(v0, mask));
    hi0 = _mm512_add_epi64(hi0, _mm512_srli_epi64(v0, 32));
    if (words > 16) {
      __mmask16 m1 = (__mmask16)((1u << (words - 16)) - 1);
      __m512i v1 = _mm512_maskz_loadu_epi32(m1, (const void *)(p + 64));
      lo1 = _mm512_add_epi64(lo1, _mm512_and_si512(v1, mask));
      hi1 = _mm512_add_epi64(hi1, _mm512_srli_epi64(v1, 32));
    }
    p += words * 4;
    n -= words * 4;
  }
  __m512i s = _mm512_add_epi64(_mm512_add_epi64(lo0, hi0), _mm512_add_epi64(lo1, hi1));
  // Lanes hold < 2^62 each (see CIC_CHUNK): the 8-lane sum may carry, so add with carry.
  uint64_t lanes[8];
  _mm512_storeu_si512((void *)lanes, s);
  uint64_t acc = 0;
  for (int i = 0; i < 8; i++) acc = cic_add_carry(acc, lanes[i]);
  return cic_sum_scalar(p, n, acc);
}

uint16_t cic_checksum_avx2(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t acc = 0;
  while (length > CIC_CHUNK) {
    acc = cic_add_carry(acc, cic_sum_avx2(p, CIC_CHUNK));
    p += CIC_CHUNK;
    length -= CIC_CHUNK;
  }
  return cic_fold(cic_add_carry(acc, cic_sum_avx2(p, length)));
}

uint16_t cic_checksum_avx512(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t acc = 0;
  while (length > CIC_CHUNK) {
    acc = cic_add_carry(acc, cic_sum_avx512(p, CIC_CHUNK));
    p += CIC_CHUNK;
    length -= CIC_CHUNK;
  }
  return cic_fold(cic_add_carry(acc, cic_sum_avx512(p, length)));
}

uint16_t cic_checksum(const void *data, size_t length) {
  if (length >= 128) {
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f"))
      return cic_checksum_avx512(data, length);
    if (__builtin_cpu_supports("avx2")) return cic_checksum_avx2(data, length);
  }
  return cic_checksum_scalar(data, length);
}
#else
int cic_cpu_has_avx2(void) { return 0; }
int cic_cpu_has_avx512bw(void) { return 0; }
uint16_t cic_checksum_avx2(const void *data, size_t length) { return cic_checksum_scalar(data, length); }
uint16_t cic_checksum_avx512(const void *data, size_t length) { return cic_checksum_scalar(data, length); }
uint16_t cic_checksum(const void *data, size_t length) { return cic_checksum_scalar(data, length); }
#endif
