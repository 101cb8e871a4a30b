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
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <linux/capability.h>

/// setfsgid(2): changes the filesystem gid of the calling *thread* only (glibc does not broadcast
/// it to other threads, unlike setegid). A socket created meanwhile carries that gid in its file
/// credentials, which is what nftables `meta skgid` matches. Returns the previous fsgid.
static inline int crawsocket_setfsgid(unsigned int gid) { return setfsgid((gid_t)gid); }

/// Makes every permitted capability inheritable and ambient (capset, then
/// prctl(PR_CAP_AMBIENT_RAISE) for each up to /proc/sys/kernel/cap_last_cap), so that programs
/// this process execs keep them although its uid is not 0: how a private user namespace that
/// maps the caller's own uid hands its capabilities to a shell and its children. Returns 0, or
/// -1 with errno from the first call that failed.
static inline int crawsocket_raise_ambient_capabilities(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &header, data) != 0) return -1;
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall(SYS_capset, &header, data) != 0) return -1;
  int last = 40;
  FILE *file = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (file) {
    if (fscanf(file, "%d", &last) != 1) last = 40;
    fclose(file);
  }
  for (int cap = 0; cap <= last && cap < 64; cap++) {
    unsigned int word = (unsigned int)cap / 32, bit = 1u << ((unsigned int)cap % 32);
    if (!(data[word].permitted & bit)) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return -1;
  }
  return 0;
}

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
