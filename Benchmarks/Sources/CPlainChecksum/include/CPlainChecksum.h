#ifndef CPLAINCHECKSUM_H
#define CPLAINCHECKSUM_H
#include <stddef.h>
#include <stdint.h>

/// The plain RFC 1071 loop: big-endian 16-bit words added into a 32-bit sum, the carries
/// folded at the end. Returns the folded ones'-complement sum in network order, NOT
/// complemented (the same convention as every reference here). Compiled -O2 as written.
uint16_t plain_checksum(const void *data, size_t length);

#endif
