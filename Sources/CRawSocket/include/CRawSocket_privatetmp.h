// A private /tmp for one thread and the processes it starts (PrivateTmp.swift).
#ifndef CRAWSOCKET_PRIVATETMP_H
#define CRAWSOCKET_PRIVATETMP_H
#include <stddef.h>

/// Gives the calling thread a mount namespace of its own (`unshare(CLONE_NEWNS)`, which also gives
/// it its own working directory: CLONE_FS is implied), makes every mount in it private (nothing
/// mounted here reaches the host), changes the thread's working directory to `directory` (resolved
/// before /tmp is covered), and mounts an empty tmpfs on /tmp. A folder under /tmp stays
/// reachable at its path: its top-level entry there (a directory, not followed if a link) is bound
/// back into the new /tmp. Other threads of the process keep the host's mounts and working directory. Returns 0, or
/// -1 with errno set and the failed step's name in `step`. `*stage` says how far it got: 0 nothing
/// changed, 1 the thread has its own mount namespace, 2 and its working directory is `directory`.
int crawsocket_private_tmp(const char *directory, int *stage, char *step, size_t length);

#endif
