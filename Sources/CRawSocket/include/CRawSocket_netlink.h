// Shims for netlink: rtnetlink, inet_diag, nf_tables (owned by the netlink side of RawSocket).
#ifndef CRAWSOCKET_NETLINK_H
#define CRAWSOCKET_NETLINK_H
#include <sys/types.h>
#include <sys/fsuid.h>

/// setfsgid(2): changes the filesystem gid of the calling *thread* only (glibc does not broadcast
/// it to other threads, unlike setegid). A socket created meanwhile carries that gid in its file
/// credentials, which is what nftables `meta skgid` matches. Returns the previous fsgid.
static inline int crawsocket_setfsgid(unsigned int gid) { return setfsgid((gid_t)gid); }

#endif
