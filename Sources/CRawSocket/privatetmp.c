// See CRawSocket_privatetmp.h. Called on a script's runner thread, right after it entered its own
// network namespace: only that thread (and the threads and processes it starts) sees the new /tmp.
#define _GNU_SOURCE
#include "CRawSocket_privatetmp.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failed(char *step, size_t length, const char *what) {
  int saved = errno;
  if (step && length > 0) snprintf(step, length, "%s", what);
  errno = saved;
  return -1;
}

int crawsocket_private_tmp(const char *directory, int *stage, char *step, size_t length) {
  if (stage) *stage = 0;
  // The folder first, by descriptor: once the tmpfs covers /tmp, its path may name nothing.
  int folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) return failed(step, length, "opening the script's folder");
  if (syscall(SYS_unshare, CLONE_NEWNS) != 0) {
    int saved = errno;
    close(folder);
    errno = saved;
    return failed(step, length, "unshare(CLONE_NEWNS)");
  }
  if (stage) *stage = 1;
  if (fchdir(folder) != 0) {
    int saved = errno;
    close(folder);
    errno = saved;
    return failed(step, length, "changing to the script's folder");
  }
  close(folder);
  if (stage) *stage = 2;
  // Private first: the copy's mounts are peers of the host's (systemd makes / shared), and a
  // mount on a shared /tmp would appear on the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return failed(step, length, "making / private");
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") != 0) {
    return failed(step, length, "mounting a tmpfs on /tmp");
  }
  return 0;
}
