// Runs the test binary of a normal user inside a private user + network (+ mount) namespace, so
// that privileged tests run instead of skipping (kernel fact 13). See CTestNamespace.c.
#ifndef CTESTNAMESPACE_H
#define CTESTNAMESPACE_H

/// What the load-time constructor did: 0 nothing (not wanted, or not needed: root or the
/// capabilities already held), 1 entered a private namespace, -1 tried and failed.
int ctestnamespace_state(void);

/// A short text: why nothing was done, or which step failed with which errno.
const char *ctestnamespace_detail(void);

#endif
