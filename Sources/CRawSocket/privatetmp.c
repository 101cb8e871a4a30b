// See CRawSocket_privatetmp.h. Called on a script's runner thread, right after it entered its own
// network namespace: only that thread (and the threads and processes it starts) sees the new /tmp.
#define _GNU_SOURCE
#include "CRawSocket_privatetmp.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failed(char *step, size_t length, const char *what, int close1, int close2) {
  int saved = errno;
  if (close1 >= 0) close(close1);
  if (close2 >= 0) close(close2);
  if (step && length > 0) snprintf(step, length, "%s", what);
  errno = saved;
  return -1;
}

int crawsocket_private_tmp(const char *directory, int *stage, char *step, size_t length) {
  if (stage) *stage = 0;
  // The folder first, by descriptor: once the tmpfs covers /tmp, its path may name nothing.
  int folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) return failed(step, length, "opening the script's folder", -1, -1);
  if (syscall(SYS_unshare, CLONE_NEWNS) != 0) return failed(step, length, "unshare(CLONE_NEWNS)", folder, -1);
  if (stage) *stage = 1;
  if (fchdir(folder) != 0) return failed(step, length, "changing to the script's folder", folder, -1);
  if (stage) *stage = 2;
  char path[PATH_MAX];
  if (!getcwd(path, sizeof path)) return failed(step, length, "naming the script's folder", folder, -1);
  if (strcmp(path, "/tmp") == 0) {
    errno = EBUSY;
    return failed(step, length, "the script's folder is /tmp itself", folder, -1);
  }
  // Private first: the copy's mounts are peers of the host's (systemd makes / shared), and a
  // mount on a shared /tmp would appear on the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return failed(step, length, "making / private", folder, -1);
  // A folder under /tmp (a corpus unpacked by mktemp -d) stays where it is: its top-level entry
  // (a directory, never followed as a link) is bound back into the new /tmp, so that paths that
  // climb out of the script's folder (../../common/set_sysctls.py) and absolute ones still work.
  int keep = -1;
  const char *name = NULL;
  char top[NAME_MAX + 1];
  if (strncmp(path, "/tmp/", 5) == 0) {
    const char *rest = path + 5;
    size_t count = strcspn(rest, "/");
    if (count == 0 || count > NAME_MAX) {
      errno = ENAMETOOLONG;
      return failed(step, length, "naming the script's folder under /tmp", folder, -1);
    }
    memcpy(top, rest, count);
    top[count] = 0;
    name = top;
    int tmp = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (tmp < 0) return failed(step, length, "opening /tmp", folder, -1);
    keep = openat(tmp, name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int saved = errno;
    close(tmp);
    errno = saved;
    if (keep < 0) return failed(step, length, "opening the script's folder's entry in /tmp", folder, -1);
  }
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") != 0) {
    return failed(step, length, "mounting a tmpfs on /tmp", folder, keep);
  }
  if (keep >= 0) {
    char source[64], target[PATH_MAX];
    snprintf(source, sizeof source, "/proc/self/fd/%d", keep);
    if (snprintf(target, sizeof target, "/tmp/%s", name) >= (int)sizeof target || mkdir(target, 0700) != 0) {
      return failed(step, length, "making the script's folder's entry in the new /tmp", folder, keep);
    }
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0) {
      return failed(step, length, "binding the script's folder into the new /tmp", folder, keep);
    }
    close(keep);
    // The working directory through the new mounts (the old one is covered).
    if (chdir(path) != 0) return failed(step, length, "changing to the script's folder in the new /tmp", folder, -1);
  }
  close(folder);
  return 0;
}
