import CRawSocket

/// Runs `body` until it returns something other than -1, or fails with an errno that is not
/// `EINTR` (or is `EINTR` and `retryOnInterrupt` is false).
internal func valueOrErrno<I: FixedWidthInteger>(
  retryOnInterrupt: Bool, _ body: () -> I
) -> Result<I, Errno> {
  while true {
    let value = body()
    if value != -1 { return .success(value) }
    let error = Errno(rawValue: system_errno())
    if !(retryOnInterrupt && error == .interrupted) { return .failure(error) }
  }
}

/// Switches the calling thread's filesystem gid to `group` (`setfsgid(2)`: this thread only;
/// `setegid` would be broadcast by glibc to every thread with a signal). Returns the gid to switch
/// back to, or `nil` when the switch did not take (the thread's gid is then put back as it was).
/// `setfsgid` returns the previous value and never -1, so a second call confirms the change.
/// Sockets created meanwhile carry `group` in their file credentials (nf_tables `meta skgid`).
internal func switchFilesystemGroup(to group: gid_t) -> gid_t? {
  let original = system_setfsgid(group)
  let now = system_setfsgid(group)
  guard original >= 0, now >= 0, gid_t(now) == group else {
    _ = system_setfsgid(original >= 0 ? gid_t(original) : system_getegid())
    return nil
  }
  return gid_t(original)
}
