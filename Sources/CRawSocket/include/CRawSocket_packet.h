// Shims for sockets, AF_PACKET, BPF and errno (owned by the packet/capture side of RawSocket).
#ifndef CRAWSOCKET_PACKET_H
#define CRAWSOCKET_PACKET_H
#include <errno.h>

static inline int crawsocket_errno(void) { return errno; }
static inline void crawsocket_set_errno(int value) { errno = value; }

#endif
