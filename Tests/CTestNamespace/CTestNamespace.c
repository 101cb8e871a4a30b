// A load-time constructor (it runs before main, while the process has a single thread, which
// unshare(CLONE_NEWUSER) requires): when a normal user runs the test binary without CAP_NET_RAW
// and CAP_NET_ADMIN, it moves the whole process into a new user namespace with its own network
// and mount namespaces, as `unshare -Urnm` would:
//   - the user's uid and gid map to themselves (setgroups denied first): files stay the user's,
//     and tools that drop root's privileges (tcpdump) are not confused by a fake root;
//   - the process holds every capability over the new namespaces, made ambient so that the tools
//     the tests run (nft, ip, tcpcraft, setpriv) keep them;
//   - `lo` is up, and /sys is a fresh sysfs showing this network namespace's interfaces;
//   - /run is covered by a private tmpfs holding the same entries (bind mounts of the originals)
//     plus an empty /run/netns, so `ip netns add` works for the tests that make namespaces.
// Nothing changes for root (CI), for a process that already has the capabilities, when
// TCPCRAFT_TEST_USERNS is "0" (opt out) or "inside" (set here, so children never nest), or when
// the kernel refuses (then privileged tests skip as before, with their message).
#define _GNU_SOURCE
#include "CTestNamespace.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int state = 0;
static char detail[256] = "not attempted";

int ctestnamespace_state(void) { return state; }
const char *ctestnamespace_detail(void) { return detail; }

static int fail(const char *step) {
  snprintf(detail, sizeof detail, "%s: %s", step, strerror(errno));
  state = -1;
  return -1;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  size_t length = strlen(text);
  ssize_t written = write(fd, text, length);
  int saved = errno;
  close(fd);
  errno = saved;
  return written == (ssize_t)length ? 0 : -1;
}

/// CapEff of /proc/self/status has CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
static int has_network_capabilities(void) {
  FILE *status = fopen("/proc/self/status", "re");
  if (!status) return 0;
  char line[256];
  unsigned long long effective = 0;
  while (fgets(line, sizeof line, status)) {
    if (strncmp(line, "CapEff:", 7) == 0) effective = strtoull(line + 7, NULL, 16);
  }
  fclose(status);
  unsigned long long wanted = (1ULL << 12) | (1ULL << 13);
  return (effective & wanted) == wanted;
}

/// Covers /run with a tmpfs that shows the same entries (each bound from the original, reached
/// through a descriptor opened before the cover) plus an empty `netns` directory.
static int private_run_directory(void) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail("making / private");
  int original = open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (original < 0) return fail("opening /run");
  if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
    close(original);
    return fail("mounting a tmpfs on /run");
  }
  DIR *entries = fdopendir(dup(original));
  if (!entries) {
    close(original);
    return fail("listing /run");
  }
  struct dirent *entry;
  char source[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
  int count = 0;
  while ((entry = readdir(entries)) != NULL && count++ < 4096) {
    const char *name = entry->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "netns") == 0) continue;
    snprintf(source, sizeof source, "/proc/self/fd/%d/%s", original, name);
    snprintf(target, sizeof target, "/run/%s", name);
    struct stat info;
    if (fstatat(original, name, &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISLNK(info.st_mode)) {
      ssize_t length = readlinkat(original, name, link, sizeof link - 1);
      if (length > 0) {
        link[length] = 0;
        (void)symlink(link, target);
      }
    } else if (S_ISDIR(info.st_mode)) {
      if (mkdir(target, info.st_mode & 07777) == 0) (void)mount(source, target, NULL, MS_BIND | MS_REC, NULL);
    } else {
      int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        close(fd);
        (void)mount(source, target, NULL, MS_BIND, NULL);
      }
    }
  }
  closedir(entries);
  close(original);
  if (mkdir("/run/netns", 0755) != 0) return fail("creating /run/netns");
  return 0;
}

/// Every permitted capability becomes inheritable and ambient (kept across exec by a non-root uid).
static int ambient_capabilities(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &header, data) != 0) return fail("capget");
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall(SYS_capset, &header, data) != 0) return fail("capset");
  for (int cap = 0; cap < 64; cap++) {
    unsigned int word = (unsigned int)cap / 32, bit = 1u << ((unsigned int)cap % 32);
    if (!(data[word].permitted & bit)) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return fail("raising ambient capabilities");
  }
  return 0;
}

static int loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket for lo");
  struct ifreq request;
  memset(&request, 0, sizeof request);
  strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  int result = ioctl(fd, SIOCGIFFLAGS, &request);
  if (result == 0) {
    request.ifr_flags |= IFF_UP;
    result = ioctl(fd, SIOCSIFFLAGS, &request);
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return result == 0 ? 0 : fail("setting lo up");
}

__attribute__((constructor)) static void ctestnamespace_enter(void) {
  const char *mode = getenv("TCPCRAFT_TEST_USERNS");
  if (mode && (strcmp(mode, "0") == 0 || strcmp(mode, "inside") == 0)) {
    snprintf(detail, sizeof detail, "TCPCRAFT_TEST_USERNS=%s", mode);
    return;
  }
  if (getuid() == 0 || has_network_capabilities()) {
    snprintf(detail, sizeof detail, "not needed: root, or the capabilities are held");
    return;
  }
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) != 0) {
    fail("unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)");
    return;
  }
  char map[64];
  if (write_file("/proc/self/setgroups", "deny") != 0) { fail("denying setgroups"); return; }
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
  if (write_file("/proc/self/uid_map", map) != 0) { fail("writing uid_map"); return; }
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
  if (write_file("/proc/self/gid_map", map) != 0) { fail("writing gid_map"); return; }
  if (ambient_capabilities() != 0) return;
  if (loopback_up() != 0) return;
  setenv("TCPCRAFT_TEST_USERNS", "inside", 1);
  if (private_run_directory() != 0) return;
  // Over the host's sysfs (its /sys/class/net lists the host's interfaces).
  if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
    fail("mounting a sysfs for the new network namespace");
    return;
  }
  state = 1;
  snprintf(detail, sizeof detail, "a private user+network namespace (uid %u, every capability inside)", (unsigned)uid);
}
