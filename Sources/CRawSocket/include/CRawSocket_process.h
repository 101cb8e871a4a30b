// Process and file calls glibc does not declare (or declares only under _GNU_SOURCE), as
// static-inline shims over syscall(2): pidfds, renameat2, getrandom.
#ifndef CRAWSOCKET_PROCESS_H
#define CRAWSOCKET_PROCESS_H

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static inline int crawsocket_pidfd_open(int pid, unsigned int flags) {
  return (int)syscall(SYS_pidfd_open, pid, flags);
}

static inline int crawsocket_pidfd_send_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0u);
}

/// renameat2(2) with RENAME_NOREPLACE (1) or 0.
static inline int crawsocket_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                                       unsigned int flags) {
  return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

static inline long crawsocket_getrandom(void *buffer, unsigned long length) {
  return syscall(SYS_getrandom, buffer, length, 0u);
}

static inline int crawsocket_openat_mode(int dirfd, const char *path, int flags, unsigned int mode) {
  return openat(dirfd, path, flags, (mode_t)mode);
}

/// close_range(first, ~0U, CLOSE_RANGE_CLOEXEC): every descriptor from `first` on close-on-exec.
static inline int crawsocket_close_range_cloexec(unsigned int first) {
  return (int)syscall(436, first, ~0U, 4u);
}

static inline int crawsocket_fcntl_int(int fd, int command, int argument) { return fcntl(fd, command, argument); }

/// pipe2(ends, O_CLOEXEC).
static inline int crawsocket_pipe_cloexec(int ends[2]) { return (int)syscall(SYS_pipe2, ends, O_CLOEXEC); }

#endif
