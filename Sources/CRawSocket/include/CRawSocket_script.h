// What the script runner (`tcpcraft run`) needs that Glibc does not import: tun ioctls, ifreq and
// rtentry setters, unshare(2), accept4(2), chdir in posix_spawn. Struct setters only; every call
// that enters the kernel goes through RawSocket's `system_*` funnel.
#ifndef CRAWSOCKET_SCRIPT_H
#define CRAWSOCKET_SCRIPT_H

#include <stdint.h>
#include <poll.h>
#include <time.h>
#include <sys/ioctl.h>
#include <string.h>
#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <linux/if_tun.h>

/// TUNSETIFF (an _IOW expression, not importable as a Swift constant).
static inline unsigned long crawsocket_tunsetiff(void) { return TUNSETIFF; }
static inline short crawsocket_iff_tun(void) { return IFF_TUN; }
static inline short crawsocket_iff_no_pi(void) { return IFF_NO_PI; }
static inline short crawsocket_iff_vnet_hdr(void) { return IFF_VNET_HDR; }
/// TUNSETOFFLOAD and the offloads packetdrill's tun uses (checksum, TSO for IPv4/IPv6, TSO+ECN).
static inline unsigned long crawsocket_tunsetoffload(void) { return TUNSETOFFLOAD; }
static inline unsigned long crawsocket_tun_offloads(void) { return TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN; }

/// unshare(2): declared by glibc only under _GNU_SOURCE.
static inline int crawsocket_unshare(int flags) { return (int)syscall(SYS_unshare, flags); }


/// ioctl(2) with one pointer argument (the variadic C function is not callable from Swift).
static inline int crawsocket_ioctl(int fd, unsigned long request, void *argument) { return ioctl(fd, request, argument); }
/// pipe2(2): declared by glibc only under _GNU_SOURCE.
static inline int crawsocket_pipe2(int fds[2], int flags) { return (int)syscall(SYS_pipe2, fds, flags); }

/// sendfile(2) with an offset the kernel advances (NULL: the file's own position).
static inline long crawsocket_sendfile(int out_fd, int in_fd, long long *offset, unsigned long count) {
  return (long)syscall(SYS_sendfile, out_fd, in_fd, offset, count);
}
/// splice(2) without offsets (both ends are a socket or a pipe): declared only under _GNU_SOURCE.
static inline long crawsocket_splice(int fd_in, int fd_out, unsigned long count, unsigned int flags) {
  return (long)syscall(SYS_splice, fd_in, NULL, fd_out, NULL, count, flags);
}

/// ppoll(2) with a relative timeout in nanoseconds and no signal mask (declared by glibc only
/// under _GNU_SOURCE). Finer than poll's milliseconds: the script runner's clock needs microseconds.
static inline int crawsocket_ppoll(struct pollfd *fds, unsigned long count, long long nanoseconds) {
  struct timespec timeout = { (time_t)(nanoseconds / 1000000000LL), (long)(nanoseconds % 1000000000LL) };
  return (int)syscall(SYS_ppoll, fds, count, nanoseconds < 0 ? NULL : &timeout, NULL, 8);
}
/// prctl(PR_SET_TIMERSLACK, 1): the calling thread's timers fire within 1 ns of asked, not 50 us.
#include <sys/prctl.h>
static inline int crawsocket_set_timer_slack_ns(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }

/// sched_setscheduler(0, SCHED_RR at its lowest priority): the calling thread preempts ordinary
/// (CFS) work, as packetdrill's threads do, so script times hold on a busy machine. With
/// `reset_on_fork`, children it spawns start as ordinary processes again.
#include <sched.h>
static inline int crawsocket_set_realtime(int reset_on_fork) {
  struct sched_param parameter;
  memset(&parameter, 0, sizeof(parameter));
  parameter.sched_priority = sched_get_priority_min(SCHED_RR);
  return sched_setscheduler(0, SCHED_RR | (reset_on_fork ? 0x40000000 : 0), &parameter);
}

/// Copies `name` (truncated to IFNAMSIZ-1) into a zeroed ifreq.
static inline void crawsocket_ifreq_init(struct ifreq *request, const char *name) {
  memset(request, 0, sizeof(*request));
  strncpy(request->ifr_name, name, IFNAMSIZ - 1);
}
static inline void crawsocket_ifreq_set_flags(struct ifreq *request, short flags) { request->ifr_flags = flags; }
static inline short crawsocket_ifreq_flags(const struct ifreq *request) { return request->ifr_flags; }
static inline void crawsocket_ifreq_set_mtu(struct ifreq *request, int mtu) { request->ifr_mtu = mtu; }
/// Sets ifr_addr to AF_INET `address` (network byte order).
static inline void crawsocket_ifreq_set_ipv4(struct ifreq *request, uint32_t address) {
  struct sockaddr_in *in = (struct sockaddr_in *)&request->ifr_addr;
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = address;
}
static inline const char *crawsocket_ifreq_name(const struct ifreq *request) { return request->ifr_name; }

/// A route to `destination`/`mask` (network byte order) through device `device` (kept by pointer:
/// it must outlive the ioctl), optionally via `gateway` (0: none).
static inline void crawsocket_rtentry_init(struct rtentry *route, uint32_t destination, uint32_t mask,
                                           uint32_t gateway, char *device) {
  memset(route, 0, sizeof(*route));
  struct sockaddr_in *dst = (struct sockaddr_in *)&route->rt_dst;
  dst->sin_family = AF_INET;
  dst->sin_addr.s_addr = destination;
  struct sockaddr_in *genmask = (struct sockaddr_in *)&route->rt_genmask;
  genmask->sin_family = AF_INET;
  genmask->sin_addr.s_addr = mask;
  struct sockaddr_in *gw = (struct sockaddr_in *)&route->rt_gateway;
  gw->sin_family = AF_INET;
  gw->sin_addr.s_addr = gateway;
  route->rt_flags = RTF_UP | (gateway ? RTF_GATEWAY : 0) | (mask == 0xFFFFFFFFu ? RTF_HOST : 0);
  route->rt_dev = device;
}

/// posix_spawn_file_actions_addchdir_np: a glibc extension Swift does not see.
int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
static inline int crawsocket_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
  return posix_spawn_file_actions_addchdir_np(actions, path);
}
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child closes every descriptor from
/// `from` up before it runs the program.
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
static inline int crawsocket_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
  return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
static inline int crawsocket_wifexited(int status) { return WIFEXITED(status); }
static inline int crawsocket_wexitstatus(int status) { return WEXITSTATUS(status); }
static inline int crawsocket_wtermsig(int status) { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }

/// FIONREAD / SIOCINQ and SIOCOUTQ, TIOCOUTQ.
static inline unsigned long crawsocket_siocinq(void) { return FIONREAD; }
static inline unsigned long crawsocket_siocoutq(void) { return TIOCOUTQ; }

#endif
