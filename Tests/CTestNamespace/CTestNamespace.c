// A load-time constructor (it runs before main, while the process has a single thread, which
// unshare(CLONE_NEWUSER) requires): when a normal user runs the test binary without CAP_NET_RAW
// and CAP_NET_ADMIN, it moves the whole process into a new user namespace with its own network
// and mount namespaces, as `unshare -Urnm` would:
//   - the user's uid and gid map to themselves (setgroups denied first): files stay the user's,
//     and tools that drop root's privileges (tcpdump) are not confused by a fake root;
//   - the process holds every capability over the new namespaces, made ambient so that the tools
//     the tests run (nft, ip, tcpcraft, setpriv) keep them;
//   (the same steps as `tcpcraft sandbox`: CRawSocket's shims, used by RawSocket's UserNamespace)
//   - `lo` is up, and /sys is a fresh sysfs showing this network namespace's interfaces;
//   - /run is covered by a private tmpfs holding the same entries (bind mounts of the originals)
//     plus an empty /run/netns, so `ip netns add` works for the tests that make namespaces.
// Nothing changes for root (CI), for a process that already has the capabilities, when
// TCPCRAFT_TEST_USERNS is "0" (opt out) or "inside" (set here, so children never nest), or when
// the kernel refuses (then privileged tests skip as before, with their message).
#define _GNU_SOURCE
#include "CTestNamespace.h"
#include "CRawSocket.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  if (crawsocket_raise_ambient_capabilities() != 0) { fail("raising ambient capabilities"); return; }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || crawsocket_interface_up(fd, "lo") != 0) {
    fail("setting lo up");
    if (fd >= 0) close(fd);
    return;
  }
  close(fd);
  setenv("TCPCRAFT_TEST_USERNS", "inside", 1);
  char step[128] = "";
  if (crawsocket_private_mounts(step, sizeof step) != 0) { fail(step); return; }
  state = 1;
  snprintf(detail, sizeof detail, "a private user+network namespace (uid %u, every capability inside)", (unsigned)uid);
}
