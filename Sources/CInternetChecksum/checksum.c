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

// AVX-512BW: multiply-add of words into 32-bit lanes.
//
// `vpmaddwd` multiplies signed 16-bit words and adds adjacent products into 32-bit lanes. XORing
// every word with 0x8000 maps an unsigned word w to the signed w - 32768, so multiplying by 1 sums
// pairs of words exactly: (w0 - 32768) + (w1 - 32768), in [-65536, 65534]. Each 64-byte vector is
// then three instructions (xor, madd, add) with no widening, and the bias comes back once at the end:
// + 32768 for every 16-bit word slot summed. Masked-off slots load as 0, i.e. -32768 after the XOR,
// and the same correction cancels them, so the tail needs no scalar loop: the last 0...255 bytes
// are whole vectors and one byte-masked load (an odd last byte is the low byte of a zero-padded word).
//
// Bounds: a lane gains at most 65536 in magnitude per vector. Four accumulators take one vector
// each per 256-byte round; after at most CIC_BLOCK_ROUNDS rounds (+ one tail vector) each holds
// less than 2^29 in magnitude, so their 32-bit sum cannot overflow. Then the lanes are widened to
// 64 bits and added to a 64-bit total (exact, signed), and the accumulators start over.
#define CIC_BLOCK_ROUNDS ((size_t)8191)

__attribute__((target("avx512f,avx512bw")))
static inline __m512i cic_madd_biased(__m512i acc, __m512i v, __m512i bias, __m512i ones) {
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_xor_si512(v, bias), ones));
}

__attribute__((target("avx512f,avx512bw")))
static inline __m512i cic_widen_add(__m512i total, __m512i a0, __m512i a1, __m512i a2, __m512i a3) {
  __m512i s = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
  total = _mm512_add_epi64(total, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(s)));
  return _mm512_add_epi64(total, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s, 1)));
}

__attribute__((target("avx512f,avx512bw")))
static uint64_t cic_sum_avx512(const uint8_t *p, size_t n) {
  const __m512i bias = _mm512_set1_epi16((short)0x8000);
  const __m512i ones = _mm512_set1_epi16(1);
  __m512i total = _mm512_setzero_si512();  // 8 signed 64-bit lanes
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  uint64_t vectors = 0;  // 64-byte vectors summed, each 32 word slots biased by -32768
  for (;;) {
    size_t rounds = n / 256;
    if (rounds > CIC_BLOCK_ROUNDS) rounds = CIC_BLOCK_ROUNDS;
    const uint8_t *end = p + rounds * 256;
    while (p != end) {
      a0 = cic_madd_biased(a0, _mm512_loadu_si512((const void *)p), bias, ones);
      a1 = cic_madd_biased(a1, _mm512_loadu_si512((const void *)(p + 64)), bias, ones);
      a2 = cic_madd_biased(a2, _mm512_loadu_si512((const void *)(p + 128)), bias, ones);
      a3 = cic_madd_biased(a3, _mm512_loadu_si512((const void *)(p + 192)), bias, ones);
      p += 256;
    }
    n -= rounds * 256;
    vectors += 4 * (uint64_t)rounds;
    if (n < 256) break;
    // A full block: widen into the 64-bit total before the 32-bit lanes could overflow.
    total = cic_widen_add(total, a0, a1, a2, a3);
    a0 = a1 = a2 = a3 = _mm512_setzero_si512();
  }
  // The last 0...255 bytes, at most one more vector per accumulator: whole vectors, then one
  // byte-masked load (nothing read past the end; an odd last byte is the low byte of a word).
  if (n >= 128) {
    a0 = cic_madd_biased(a0, _mm512_loadu_si512((const void *)p), bias, ones);
    a1 = cic_madd_biased(a1, _mm512_loadu_si512((const void *)(p + 64)), bias, ones);
    p += 128;
    n -= 128;
    vectors += 2;
  }
  if (n >= 64) {
    a2 = cic_madd_biased(a2, _mm512_loadu_si512((const void *)p), bias, ones);
    p += 64;
    n -= 64;
    vectors += 1;
  }
  if (n > 0) {
    __mmask64 mask = ((__mmask64)1 << n) - 1;  // n < 64
    a3 = cic_madd_biased(a3, _mm512_maskz_loadu_epi8(mask, (const void *)p), bias, ones);
    vectors += 1;
  }
  total = cic_widen_add(total, a0, a1, a2, a3);
  // The exact sum of the little-endian words: biased sum + 32768 per word slot. Callers pass
  // at most CIC_CHUNK bytes, so it stays far below 2^63.
  int64_t biased = _mm512_reduce_add_epi64(total);
  return (uint64_t)(biased + (int64_t)(vectors * 32 * 32768));
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
