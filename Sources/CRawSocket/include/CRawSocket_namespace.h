// Mount set-up for a private user + network + mount namespace (UserNamespace.swift).
#ifndef CRAWSOCKET_NAMESPACE_H
#define CRAWSOCKET_NAMESPACE_H
#include <stddef.h>

/// In a new mount namespace owned by the caller's new user namespace: makes every mount private,
/// covers /run with a tmpfs holding the same entries (each bound from the original through a
/// descriptor opened before the cover) plus an empty /run/netns, so that `ip netns add` works
/// without the host's root; and mounts a sysfs for the current network namespace over /sys (the
/// host's lists the host's interfaces). Returns 0, or -1 with errno set and the failed step's
/// name in `step` (at most `length` bytes with the NUL).
int crawsocket_private_mounts(char *step, size_t length);

/// The file system type (`statfs` f_type) of `path`, or -1 with errno set.
long long crawsocket_filesystem_type(const char *path);

#endif
