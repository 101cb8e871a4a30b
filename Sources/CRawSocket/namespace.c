// See CRawSocket_namespace.h. Runs once, right after unshare(CLONE_NEWUSER | CLONE_NEWNET |
// CLONE_NEWNS), in the namespaces the process just made for itself: nothing outside changes.
#define _GNU_SOURCE
#include "CRawSocket_namespace.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static int failed(char *step, size_t length, const char *what) {
  int saved = errno;
  if (step && length > 0) snprintf(step, length, "%s", what);
  errno = saved;
  return -1;
}

int crawsocket_private_mounts(char *step, size_t length) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return failed(step, length, "making / private");
  int original = open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (original < 0) return failed(step, length, "opening /run");
  if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
    int saved = errno;
    close(original);
    errno = saved;
    return failed(step, length, "mounting a tmpfs on /run");
  }
  int listing = dup(original);
  DIR *entries = listing >= 0 ? fdopendir(listing) : NULL;
  if (!entries) {
    int saved = errno;
    if (listing >= 0) close(listing);
    close(original);
    errno = saved;
    return failed(step, length, "listing /run");
  }
  struct dirent *entry;
  char source[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
  int count = 0;
  while ((entry = readdir(entries)) != NULL && count++ < 4096) {
    const char *name = entry->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "netns") == 0) continue;
    if (snprintf(source, sizeof source, "/proc/self/fd/%d/%s", original, name) >= (int)sizeof source) continue;
    if (snprintf(target, sizeof target, "/run/%s", name) >= (int)sizeof target) continue;
    struct stat info;
    if (fstatat(original, name, &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISLNK(info.st_mode)) {
      ssize_t size = readlinkat(original, name, link, sizeof link - 1);
      if (size > 0) {
        link[size] = 0;
        (void)symlink(link, target);
      }
    } else if (S_ISDIR(info.st_mode)) {
      if (mkdir(target, info.st_mode & 07777) == 0) (void)mount(source, target, NULL, MS_BIND | MS_REC, NULL);
    } else {
      int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd >= 0) {
        close(fd);
        (void)mount(source, target, NULL, MS_BIND, NULL);
      }
    }
  }
  closedir(entries);
  close(original);
  if (mkdir("/run/netns", 0755) != 0) return failed(step, length, "creating /run/netns");
  if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
    return failed(step, length, "mounting a sysfs for the new network namespace");
  }
  return 0;
}

long long crawsocket_filesystem_type(const char *path) {
  struct statfs info;
  if (statfs(path, &info) != 0) return -1;
  return (long long)info.f_type;
}
