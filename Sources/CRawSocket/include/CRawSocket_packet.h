// Shims for sockets, AF_PACKET, BPF and errno (owned by the packet/capture side of RawSocket).
// Only what Swift cannot import by itself: function-like macros (CMSG_*) and constants defined by
// expressions (SO_TIMESTAMPNS). No logic.
#ifndef CRAWSOCKET_PACKET_H
#define CRAWSOCKET_PACKET_H
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/if_packet.h>

static inline int crawsocket_errno(void) { return errno; }
static inline void crawsocket_set_errno(int value) { errno = value; }

// --- Control messages (cmsg(3)): macros in glibc, so wrapped here. ---

static inline struct cmsghdr *crawsocket_cmsg_firsthdr(struct msghdr *message) {
  return CMSG_FIRSTHDR(message);
}
static inline struct cmsghdr *crawsocket_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header) {
  return CMSG_NXTHDR(message, header);
}
static inline unsigned char *crawsocket_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }
static inline size_t crawsocket_cmsg_space(size_t length) { return CMSG_SPACE(length); }
static inline size_t crawsocket_cmsg_len(size_t length) { return CMSG_LEN(length); }

// --- sendmmsg(2): glibc declares it only under _GNU_SOURCE, which Swift's Glibc does not set. ---

/// The kernel's `struct mmsghdr` (same layout as glibc's).
struct crawsocket_mmsghdr {
  struct msghdr msg_hdr;
  unsigned int msg_len;
};

static inline int crawsocket_sendmmsg(int fd, struct crawsocket_mmsghdr *messages, unsigned int count,
                                      int flags) {
  return (int)syscall(SYS_sendmmsg, fd, messages, count, flags);
}

// --- setns(2): declared by glibc only under _GNU_SOURCE. ---

static inline int crawsocket_setns(int fd, int nstype) { return (int)syscall(SYS_setns, fd, nstype); }

// --- accept4(2): declared by glibc only under _GNU_SOURCE. The peer's address is not asked for. ---

static inline int crawsocket_accept4(int fd, int flags) { return (int)syscall(SYS_accept4, fd, 0, 0, flags); }

// --- Constants defined by expressions (not importable as Swift constants). ---

/// SO_TIMESTAMPNS (SOL_SOCKET): struct timespec receive timestamps; equals SCM_TIMESTAMPNS.
static inline int crawsocket_so_timestampns(void) { return SO_TIMESTAMPNS; }

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#endif
