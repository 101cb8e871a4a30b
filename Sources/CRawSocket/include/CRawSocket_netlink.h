// Shims for netlink: rtnetlink, inet_diag, nf_tables (owned by the netlink side of RawSocket).
#ifndef CRAWSOCKET_NETLINK_H
#define CRAWSOCKET_NETLINK_H
#include <sys/types.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>
#include <net/if.h>

/// setfsgid(2): changes the filesystem gid of the calling *thread* only (glibc does not broadcast
/// it to other threads, unlike setegid). A socket created meanwhile carries that gid in its file
/// credentials, which is what nftables `meta skgid` matches. Returns the previous fsgid.
static inline int crawsocket_setfsgid(unsigned int gid) { return setfsgid((gid_t)gid); }

/// unshare(2), which glibc declares only under _GNU_SOURCE: used to enter a new user and
/// network namespace (`CLONE_NEWUSER` 0x10000000 | `CLONE_NEWNET` 0x40000000).
static inline int crawsocket_unshare(int flags) { return (int)syscall(SYS_unshare, flags); }

/// Sets IFF_UP on the interface `name` through `fd` (any AF_INET datagram socket): SIOCGIFFLAGS
/// then SIOCSIFFLAGS (ioctl is variadic, which Swift cannot call). Returns 0 or -1 with errno.
static inline int crawsocket_interface_up(int fd, const char *name) {
  struct ifreq request;
  memset(&request, 0, sizeof request);
  strncpy(request.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &request) != 0) return -1;
  if (request.ifr_flags & IFF_UP) return 0;
  request.ifr_flags |= IFF_UP;
  return ioctl(fd, SIOCSIFFLAGS, &request);
}

#endif
