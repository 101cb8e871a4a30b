// The best Internet checksum C we could write for this machine (x86-64 with AVX2, AVX-VNNI,
// AVX-512BW and AVX-512 VNNI). Each kernel is a separate non-inlined function, its ISA chosen by
// a target attribute (no -march), so the package needs no machine-specific flags.
#include "CReference.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CREF_X86 1
#endif

static inline uint16_t fold64(uint64_t s) {
  s = (s & 0xFFFFFFFFu) + (s >> 32);
  s = (s & 0xFFFFFFFFu) + (s >> 32);
  s = (s & 0xFFFFu) + (s >> 16);
  s = (s & 0xFFFFu) + (s >> 16);
  s = (s & 0xFFFFu) + (s >> 16);
  return (uint16_t)s;
}

static inline uint64_t addc(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s + (s < b);
}

// Little-endian (native) ones'-complement sum of n bytes starting at an even stream offset,
// added to acc. Short-input friendly: the tail is done with at most three loads.
static inline uint64_t sum_le_tail(const uint8_t *p, size_t n, uint64_t acc) {
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    acc = addc(acc, w);
    p += 8;
    n -= 8;
  }
  uint64_t t = 0;
  if (n & 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    t = w;
    p += 4;
  }
  if (n & 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    t += w;
    p += 2;
  }
  if (n & 1) t += *p;
  return addc(acc, t);
}

__attribute__((noinline))
uint16_t best_checksum_c64(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t acc = 0;
#ifdef CREF_X86
  // One adc chain, 64 bytes a round (what Linux's csum_partial does).
  while (length >= 64) {
    __asm__("addq 0(%[p]), %[a]\n\t"
            "adcq 8(%[p]), %[a]\n\t"
            "adcq 16(%[p]), %[a]\n\t"
            "adcq 24(%[p]), %[a]\n\t"
            "adcq 32(%[p]), %[a]\n\t"
            "adcq 40(%[p]), %[a]\n\t"
            "adcq 48(%[p]), %[a]\n\t"
            "adcq 56(%[p]), %[a]\n\t"
            "adcq $0, %[a]"
            : [a] "+r"(acc)
            : [p] "r"(p)
            : "memory", "cc");
    p += 64;
    length -= 64;
  }
#endif
  acc = sum_le_tail(p, length, acc);
  return __builtin_bswap16(fold64(acc));
}

#ifdef CREF_X86

static inline uint16_t net_from_le(uint64_t le) { return __builtin_bswap16(fold64(le)); }

// ---- AVX2: vpmaddwd of (word ^ 0x8000) with 1s: every word becomes w - 32768 (signed), pairs
// summed into 32-bit lanes. 32-bit lanes take 32767 such adds safely; S = T + 32768 * words.

__attribute__((target("avx2")))
static inline __m256i madd_step256(__m256i acc, __m256i v, __m256i flip, __m256i ones) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_xor_si256(v, flip), ones));
}

__attribute__((target("avx2")))
static inline int64_t hsum256_epi32(__m256i v) {
  __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
  __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1));
  __m256i s = _mm256_add_epi64(lo, hi);
  __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  return _mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1);
}

__attribute__((noinline, target("avx2")))
uint16_t best_checksum_avx2(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  const __m256i flip = _mm256_set1_epi16((short)0x8000);
  const __m256i ones = _mm256_set1_epi16(1);
  int64_t total = 0;  // exact sum of (w - 32768) over SIMD words
  uint64_t words = 0;
  while (length >= 128) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t rounds = length / 128;
    if (rounds > 32767) rounds = 32767;
    for (size_t i = 0; i < rounds; i++) {
      a0 = madd_step256(a0, _mm256_loadu_si256((const __m256i *)p), flip, ones);
      a1 = madd_step256(a1, _mm256_loadu_si256((const __m256i *)(p + 32)), flip, ones);
      a2 = madd_step256(a2, _mm256_loadu_si256((const __m256i *)(p + 64)), flip, ones);
      a3 = madd_step256(a3, _mm256_loadu_si256((const __m256i *)(p + 96)), flip, ones);
      p += 128;
    }
    length -= rounds * 128;
    words += rounds * 64;
    // Each lane is within ±32767 * 65536 < 2^31; reduce the four separately (their sum might not fit).
    total += hsum256_epi32(a0) + hsum256_epi32(a1) + hsum256_epi32(a2) + hsum256_epi32(a3);
  }
  uint64_t acc = (uint64_t)(total + (int64_t)words * 32768);
  if (length >= 32) {
    __m256i a0 = _mm256_setzero_si256();
    while (length >= 32) {
      a0 = madd_step256(a0, _mm256_loadu_si256((const __m256i *)p), flip, ones);
      p += 32;
      length -= 32;
      acc += 16 * 32768;
    }
    acc += (uint64_t)hsum256_epi32(a0);
  }
  return net_from_le(sum_le_tail(p, length, acc));
}

// ---- AVX-VNNI / AVX-512 VNNI: vpdpbusd multiplies unsigned bytes by signed weights and adds
// groups of four into 32-bit lanes. Weights (1,0,1,0) give the even-offset bytes (the high-order
// byte of each network-order word), (0,1,0,1) the odd ones: S_net = 256*S_even + S_odd.
// A lane gains at most 510 a step: 2^22 steps are safe.

__attribute__((target("avx2,avxvnni")))
static inline uint64_t hsum256_epu32(__m256i v) {
  __m256i lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(v));
  __m256i hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256(v, 1));
  __m256i s = _mm256_add_epi64(lo, hi);
  __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  return (uint64_t)_mm_cvtsi128_si64(t) + (uint64_t)_mm_extract_epi64(t, 1);
}

__attribute__((noinline, target("avx2,avxvnni")))
uint16_t best_checksum_avxvnni(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  const __m256i we = _mm256_set1_epi16(0x0001);  // bytes 1,0: even offsets
  const __m256i wo = _mm256_set1_epi16(0x0100);  // bytes 0,1: odd offsets
  uint64_t even = 0, odd = 0;
  while (length >= 32) {
    __m256i e0 = _mm256_setzero_si256(), e1 = e0, e2 = e0, e3 = e0;
    __m256i o0 = e0, o1 = e0, o2 = e0, o3 = e0;
    size_t rounds = length / 128;
    if (rounds > ((size_t)1 << 22)) rounds = (size_t)1 << 22;
    for (size_t i = 0; i < rounds; i++) {
      __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
      __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
      __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + 64));
      __m256i v3 = _mm256_loadu_si256((const __m256i *)(p + 96));
      e0 = _mm256_dpbusd_avx_epi32(e0, v0, we);
      o0 = _mm256_dpbusd_avx_epi32(o0, v0, wo);
      e1 = _mm256_dpbusd_avx_epi32(e1, v1, we);
      o1 = _mm256_dpbusd_avx_epi32(o1, v1, wo);
      e2 = _mm256_dpbusd_avx_epi32(e2, v2, we);
      o2 = _mm256_dpbusd_avx_epi32(o2, v2, wo);
      e3 = _mm256_dpbusd_avx_epi32(e3, v3, we);
      o3 = _mm256_dpbusd_avx_epi32(o3, v3, wo);
      p += 128;
    }
    length -= rounds * 128;
    if (rounds == 0) {
      while (length >= 32) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
        e0 = _mm256_dpbusd_avx_epi32(e0, v0, we);
        o0 = _mm256_dpbusd_avx_epi32(o0, v0, wo);
        p += 32;
        length -= 32;
      }
    }
    even += hsum256_epu32(e0) + hsum256_epu32(e1) + hsum256_epu32(e2) + hsum256_epu32(e3);
    odd += hsum256_epu32(o0) + hsum256_epu32(o1) + hsum256_epu32(o2) + hsum256_epu32(o3);
  }
  // The tail (< 32 bytes) in native order, then into network order.
  uint16_t tail_net = __builtin_bswap16(fold64(sum_le_tail(p, length, 0)));
  uint64_t net = (even << 8) + odd + tail_net;
  return fold64(net);
}

__attribute__((target("avx512f,avx512bw")))
static inline uint64_t hsum512_epu32(__m512i v) {
  __m512i lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(v));
  __m512i hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(v, 1));
  return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
}

__attribute__((target("avx512f,avx512bw")))
static inline int64_t hsum512_epi32(__m512i v) {
  __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
  __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1));
  return _mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
}

__attribute__((target("avx512f,avx512bw")))
static inline __m512i madd_step512(__m512i acc, __m512i v, __m512i flip, __m512i ones) {
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_xor_si512(v, flip), ones));
}

__attribute__((target("avx512f,avx512bw")))
static inline __mmask64 tail_mask(size_t n) {  // n < 64
  return n == 0 ? 0 : (__mmask64)(~0ULL >> (64 - n));
}

__attribute__((noinline, target("avx512f,avx512bw")))
uint16_t best_checksum_avx512(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  const __m512i flip = _mm512_set1_epi16((short)0x8000);
  const __m512i ones = _mm512_set1_epi16(1);
  int64_t total = 0;
  uint64_t words = 0;
  while (length >= 256) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    size_t rounds = length / 256;
    if (rounds > 8191) rounds = 8191;  // four accumulators add up within ±2^31
    for (size_t i = 0; i < rounds; i++) {
      a0 = madd_step512(a0, _mm512_loadu_si512((const void *)p), flip, ones);
      a1 = madd_step512(a1, _mm512_loadu_si512((const void *)(p + 64)), flip, ones);
      a2 = madd_step512(a2, _mm512_loadu_si512((const void *)(p + 128)), flip, ones);
      a3 = madd_step512(a3, _mm512_loadu_si512((const void *)(p + 192)), flip, ones);
      p += 256;
    }
    length -= rounds * 256;
    words += rounds * 128;
    a0 = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
    total += hsum512_epi32(a0);
  }
  // The last < 256 bytes: whole vectors, then one masked load (zero bytes add nothing to S,
  // but a zero word still counts as a word in the correction).
  __m512i a0 = _mm512_setzero_si512();
  while (length >= 64) {
    a0 = madd_step512(a0, _mm512_loadu_si512((const void *)p), flip, ones);
    p += 64;
    length -= 64;
    words += 32;
  }
  if (length > 0) {
    a0 = madd_step512(a0, _mm512_maskz_loadu_epi8(tail_mask(length), (const void *)p), flip, ones);
    words += 32;
  }
  total += hsum512_epi32(a0);
  return net_from_le((uint64_t)(total + (int64_t)words * 32768));
}

__attribute__((noinline, target("avx512f,avx512bw,avx512vnni")))
uint16_t best_checksum_avx512vnni(const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  const __m512i we = _mm512_set1_epi16(0x0001);
  const __m512i wo = _mm512_set1_epi16(0x0100);
  uint64_t even = 0, odd = 0;
  __m512i e0 = _mm512_setzero_si512(), e1 = e0, e2 = e0, e3 = e0;
  __m512i o0 = e0, o1 = e0, o2 = e0, o3 = e0;
  while (length >= 256) {
    size_t rounds = length / 256;
    if (rounds > ((size_t)1 << 20)) rounds = (size_t)1 << 20;  // lanes < 2^29: four add safely
    for (size_t i = 0; i < rounds; i++) {
      __m512i v0 = _mm512_loadu_si512((const void *)p);
      __m512i v1 = _mm512_loadu_si512((const void *)(p + 64));
      __m512i v2 = _mm512_loadu_si512((const void *)(p + 128));
      __m512i v3 = _mm512_loadu_si512((const void *)(p + 192));
      e0 = _mm512_dpbusd_epi32(e0, v0, we);
      o0 = _mm512_dpbusd_epi32(o0, v0, wo);
      e1 = _mm512_dpbusd_epi32(e1, v1, we);
      o1 = _mm512_dpbusd_epi32(o1, v1, wo);
      e2 = _mm512_dpbusd_epi32(e2, v2, we);
      o2 = _mm512_dpbusd_epi32(o2, v2, wo);
      e3 = _mm512_dpbusd_epi32(e3, v3, we);
      o3 = _mm512_dpbusd_epi32(o3, v3, wo);
      p += 256;
    }
    length -= rounds * 256;
    even += hsum512_epu32(_mm512_add_epi32(_mm512_add_epi32(e0, e1), _mm512_add_epi32(e2, e3)));
    odd += hsum512_epu32(_mm512_add_epi32(_mm512_add_epi32(o0, o1), _mm512_add_epi32(o2, o3)));
    e0 = e1 = e2 = e3 = o0 = o1 = o2 = o3 = _mm512_setzero_si512();
  }
  while (length >= 64) {
    __m512i v = _mm512_loadu_si512((const void *)p);
    e0 = _mm512_dpbusd_epi32(e0, v, we);
    o0 = _mm512_dpbusd_epi32(o0, v, wo);
    p += 64;
    length -= 64;
  }
  if (length > 0) {
    __m512i v = _mm512_maskz_loadu_epi8(tail_mask(length), (const void *)p);
    e0 = _mm512_dpbusd_epi32(e0, v, we);
    o0 = _mm512_dpbusd_epi32(o0, v, wo);
  }
  // Per lane the sums are < 2^32 (checked above), and e/o lanes combine without carries in
  // 64 bits: reduce the even lanes shifted by 8 together with the odd ones.
  even += hsum512_epu32(e0);
  odd += hsum512_epu32(o0);
  return fold64((even << 8) + odd);
}

int cref_kernel_available(int kernel) {
  switch (kernel) {
  case CREF_PLAIN:
  case CREF_C64: return 1;
  case CREF_AVX2: return __builtin_cpu_supports("avx2");
  case CREF_AVXVNNI: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
  case CREF_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  case CREF_AVX512VNNI:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
  default: return 0;
  }
}
#else
uint16_t best_checksum_avx2(const void *d, size_t n) { return best_checksum_c64(d, n); }
uint16_t best_checksum_avxvnni(const void *d, size_t n) { return best_checksum_c64(d, n); }
uint16_t best_checksum_avx512(const void *d, size_t n) { return best_checksum_c64(d, n); }
uint16_t best_checksum_avx512vnni(const void *d, size_t n) { return best_checksum_c64(d, n); }
int cref_kernel_available(int kernel) { return kernel == CREF_PLAIN || kernel == CREF_C64; }
#endif
