// tracefs without a path: a detached mount of our own (TraceFS.swift).
#ifndef CRAWSOCKET_TRACE_H
#define CRAWSOCKET_TRACE_H
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

/// A tracefs mount that is attached nowhere: `fsopen("tracefs")`, `fsconfig(FSCONFIG_CMD_CREATE)`,
/// `fsmount()`. The result is a directory descriptor for `openat`/`mkdirat`; no mount table, no
/// path and no other process sees it, and it goes away with the last descriptor. Needs
/// CAP_SYS_ADMIN over the initial user namespace (tracefs cannot be mounted in a user namespace).
/// Returns the descriptor, or -1 with errno set (ENOSYS before Linux 5.2).
static inline int crawsocket_tracefs_mount(void) {
#if defined(SYS_fsopen) && defined(SYS_fsconfig) && defined(SYS_fsmount)
  int context = (int)syscall(SYS_fsopen, "tracefs", 1 /* FSOPEN_CLOEXEC */);
  if (context < 0) return -1;
  if (syscall(SYS_fsconfig, context, 6 /* FSCONFIG_CMD_CREATE */, (void *)0, (void *)0, 0) != 0) {
    int saved = errno;
    close(context);
    errno = saved;
    return -1;
  }
  int mounted = (int)syscall(SYS_fsmount, context, 1 /* FSMOUNT_CLOEXEC */, 0);
  int saved = errno;
  close(context);
  errno = saved;
  return mounted;
#else
  errno = ENOSYS;
  return -1;
#endif
}

/// The calling thread's id (the `common_pid` trace events carry). `gettid(2)`.
static inline int crawsocket_gettid(void) { return (int)syscall(SYS_gettid); }

#endif
