import CRawSocket

/// A plain POSIX thread, for work that must stay on one kernel task: a network namespace entered
/// with `unshare(CLONE_NEWNET)` belongs to the calling thread only, and threads or children it
/// creates start in it. Also the one way other modules start a thread (the probe's workers), so
/// that `pthread_create`/`pthread_join` stay behind the `system_*` seam. The caller joins the
/// thread (`join()`) before dropping it.
public final class IsolatedThread: @unchecked Sendable {
  private var thread: pthread_t
  private var joined = false

  private final class Box {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
  }

  private init(thread: pthread_t) { self.thread = thread }

  /// Starts `body` on a new thread. The corresponding C function is `pthread_create(3)`.
  public static func start(_ body: @escaping @Sendable () -> Void) throws(Errno) -> IsolatedThread {
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = system_pthread_create(&thread, { argument in
      guard let argument else { return nil }
      let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
      box.body()
      return nil
    }, box)
    guard result == 0 else {
      Unmanaged<Box>.fromOpaque(box).release()
      throw Errno(rawValue: result)
    }
    return IsolatedThread(thread: thread)
  }

  /// Gives the calling thread the lowest real-time priority (SCHED_RR), as packetdrill does for
  /// its own threads, so that a timeline of milliseconds survives a loaded machine. `false` when
  /// not permitted (no CAP_SYS_NICE): the thread keeps its ordinary priority.
  /// The corresponding C function is `sched_setscheduler(2)`.
  @discardableResult
  public static func raiseToRealtimePriority(resetOnFork: Bool) -> Bool {
    system_set_realtime(resetOnFork) == 0
  }

  /// Waits for the thread to finish (once). The corresponding C function is `pthread_join(3)`.
  public func join() {
    guard !joined else { return }
    joined = true
    _ = system_pthread_join(thread)
  }
}

extension NetworkNamespace {
  /// Moves the calling thread into a new, anonymous network namespace: no name under
  /// `/var/run/netns`, held only by this thread and what it creates (sockets, devices, child
  /// threads and processes). When they are all gone the kernel removes the namespace with its
  /// devices, even if the process was killed by SIGKILL. Needs `CAP_SYS_ADMIN` (or `CAP_NET_ADMIN`
  /// over a user namespace the caller owns).
  ///
  /// The corresponding C function is `unshare(2)` with `CLONE_NEWNET`.
  public static func unshareCurrentThread() throws(Errno) {
    guard system_unshare(0x4000_0000) == 0 else { throw Errno(rawValue: system_errno()) }
  }
}
