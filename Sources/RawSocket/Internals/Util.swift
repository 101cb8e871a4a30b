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
