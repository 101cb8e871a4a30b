#ifndef CINTERNETCHECKSUM_H
#define CINTERNETCHECKSUM_H
// Internet checksum (RFC 1071) kernels for PacketKit.
//
// Every function returns the ones'-complement sum of `length` bytes at `data` (any alignment,
// any length), summed in *native (little-endian) byte order* and folded to 16 bits, NOT
// complemented. Swap the bytes of the result once to get the network-order sum (RFC 1071 §2(B)).
// An odd trailing byte is padded with a zero octet after it, as RFC 1071 says.
// The result is 0 only when every byte is 0 (end-around-carry folding never yields 0 for a
// positive sum), so it is exactly what the plain 16-bit RFC 1071 loop accumulates.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Runtime-dispatched: scalar 64-bit add-with-carry for short inputs, AVX-512BW or AVX2 for
/// long ones when the CPU has them (`__builtin_cpu_supports`).
uint16_t cic_checksum(const void *data, size_t length);

/// The individual kernels, for tests and benchmarks. Calling an AVX kernel on a CPU without the
/// extension is undefined: check `cic_cpu_has_avx2` / `cic_cpu_has_avx512bw` first.
uint16_t cic_checksum_scalar(const void *data, size_t length);
uint16_t cic_checksum_avx2(const void *data, size_t length);
uint16_t cic_checksum_avx512(const void *data, size_t length);
int cic_cpu_has_avx2(void);
int cic_cpu_has_avx512bw(void);

#ifdef __cplusplus
}
#endif
#endif
