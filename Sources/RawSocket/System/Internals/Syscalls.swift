// The only file in RawSocket that calls Glibc directly. Every wrapper goes through a
// `system_<name>` function here, so that a debug build (ENABLE_MOCKING) can trace calls and force
// errors without privileges (see Mocking.swift).
import CRawSocket

#if canImport(Glibc)
import Glibc
#endif

internal func system_errno() -> CInt { crawsocket_errno() }

internal func system_strerror(_ code: CInt) -> String {
  guard let text = strerror(code) else { return "unknown error" }
  return String(cString: text)
}

internal func system_socket(_ domain: CInt, _ type: CInt, _ proto: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("socket", Int(domain), Int(type), Int(proto)) { return forced }
  #endif
  return socket(domain, type, proto)
}

internal func system_close(_ fd: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("close", Int(fd)) { return forced }
  #endif
  return close(fd)
}

internal func system_setsockopt(
  _ fd: CInt, _ level: CInt, _ name: CInt, _ value: UnsafeRawPointer?, _ length: socklen_t
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("setsockopt", Int(fd), Int(level), Int(name), Int(length)) {
    return forced
  }
  #endif
  return setsockopt(fd, level, name, value, length)
}

internal func system_getsockopt(
  _ fd: CInt, _ level: CInt, _ name: CInt, _ value: UnsafeMutableRawPointer?,
  _ length: UnsafeMutablePointer<socklen_t>
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("getsockopt", Int(fd), Int(level), Int(name)) { return forced }
  #endif
  return getsockopt(fd, level, name, value, length)
}

// MARK: - Sockets: addresses, sending, receiving (rs-io)

internal func system_bind(
  _ fd: CInt, _ address: UnsafeRawPointer, _ length: socklen_t
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("bind", Int(fd), Int(length)) { return forced }
  #endif
  return bind(fd, address.assumingMemoryBound(to: sockaddr.self), length)
}

internal func system_sendto(
  _ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: CInt,
  _ address: UnsafeRawPointer?, _ addressLength: socklen_t
) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("sendto", Int(fd), count, Int(flags), Int(addressLength)) {
    return Int(forced)
  }
  #endif
  return sendto(fd, buffer, count, flags, address?.assumingMemoryBound(to: sockaddr.self), addressLength)
}

internal func system_sendmmsg(
  _ fd: CInt, _ messages: UnsafeMutablePointer<crawsocket_mmsghdr>, _ count: CUnsignedInt, _ flags: CInt
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("sendmmsg", Int(fd), Int(count), Int(flags)) { return forced }
  #endif
  return crawsocket_sendmmsg(fd, messages, count, flags)
}

internal func system_recvmsg(
  _ fd: CInt, _ message: UnsafeMutablePointer<msghdr>, _ flags: CInt
) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("recvmsg", Int(fd), Int(flags)) { return Int(forced) }
  #endif
  return recvmsg(fd, message, flags)
}

internal func system_sendmsg(
  _ fd: CInt, _ message: UnsafePointer<msghdr>, _ flags: CInt
) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("sendmsg", Int(fd), Int(flags)) { return Int(forced) }
  #endif
  return sendmsg(fd, message, flags)
}

internal func system_recv(
  _ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ flags: CInt
) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("recv", Int(fd), count, Int(flags)) { return Int(forced) }
  #endif
  return recv(fd, buffer, count, flags)
}

internal func system_listen(_ fd: CInt, _ backlog: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("listen", Int(fd), Int(backlog)) { return forced }
  #endif
  return listen(fd, backlog)
}

/// `accept4(fd, NULL, NULL, flags)`: the peer's address is not asked for.
internal func system_accept4(_ fd: CInt, _ flags: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("accept4", Int(fd), Int(flags)) { return forced }
  #endif
  return crawsocket_accept4(fd, flags)
}

internal func system_getsockname(
  _ fd: CInt, _ address: UnsafeMutableRawPointer, _ length: UnsafeMutablePointer<socklen_t>
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("getsockname", Int(fd)) { return forced }
  #endif
  return getsockname(fd, address.assumingMemoryBound(to: sockaddr.self), length)
}

internal func system_poll(
  _ fds: UnsafeMutablePointer<pollfd>, _ count: nfds_t, _ timeoutMilliseconds: CInt
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("poll", Int(count), Int(timeoutMilliseconds)) { return forced }
  #endif
  return poll(fds, count, timeoutMilliseconds)
}

/// `isatty(3)` (a `TCGETS` ioctl): 1 when `fd` is a terminal, 0 otherwise (a forced error: 0).
internal func system_isatty(_ fd: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("isatty", Int(fd)) { _ = forced; return 0 }
  #endif
  return isatty(fd)
}

internal func system_if_nametoindex(_ name: UnsafePointer<CChar>) -> CUnsignedInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("if_nametoindex") { _ = forced; return 0 }
  #endif
  return if_nametoindex(name)
}

/// The interfaces of the calling thread's network namespace (`if_nameindex(3)`), at most
/// `limit`; empty when they cannot be listed.
internal func system_if_nameindex(limit: Int) -> [(index: UInt32, name: String)] {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("if_nameindex") { _ = forced; return [] }
  #endif
  guard let list = if_nameindex() else { return [] }
  defer { if_freenameindex(list) }
  var interfaces: [(index: UInt32, name: String)] = []
  var entry = list
  while interfaces.count < limit, entry.pointee.if_index != 0, let name = entry.pointee.if_name {
    interfaces.append((entry.pointee.if_index, String(cString: name)))
    entry += 1
  }
  return interfaces
}

internal func system_setns(_ fd: CInt, _ type: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("setns", Int(fd), Int(type)) { return forced }
  #endif
  return crawsocket_setns(fd, type)
}

// MARK: - Process credentials and files (capabilities, the RST guard's group)

internal func system_getegid() -> gid_t { getegid() }

internal func system_getgid() -> gid_t { getgid() }

// MARK: - User namespaces (UserNamespace.swift)

/// `open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)` (for `/proc` control files).
internal func system_openWriteOnly(_ path: UnsafePointer<CChar>) -> CInt {
  system_open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
}

/// Makes every permitted capability inheritable and ambient (kept across exec by a non-root uid).
internal func system_raiseAmbientCapabilities() -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("prctl(PR_CAP_AMBIENT_RAISE)") { return forced }
  #endif
  return crawsocket_raise_ambient_capabilities()
}

/// A private /run (with an empty /run/netns) and /sys in a new mount namespace (namespace.c);
/// the failed step's name goes to `step`.
internal func system_privateMounts(_ step: UnsafeMutablePointer<CChar>, _ length: Int) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("mount") { return forced }
  #endif
  return crawsocket_private_mounts(step, length)
}

/// A private /tmp for the calling thread (privatetmp.c): its own mount namespace, working
/// directory `directory`, an empty tmpfs on /tmp. `stage` says how far it got before a failure
/// (0, 1 own mount namespace, 2 and in `directory`); the failed step's name goes to `step`.
internal func system_privateTmp(
  _ directory: UnsafePointer<CChar>, _ stage: UnsafeMutablePointer<CInt>, _ step: UnsafeMutablePointer<CChar>,
  _ length: Int
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("unshare(CLONE_NEWNS)") { return forced }
  #endif
  return crawsocket_private_tmp(directory, stage, step, length)
}

/// `statfs(2)`'s file system type of `path`, or -1.
internal func system_filesystemType(_ path: UnsafePointer<CChar>) -> Int64 {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("statfs") { return Int64(forced) }
  #endif
  return Int64(crawsocket_filesystem_type(path))
}

/// Sets `IFF_UP` on an interface through `fd` (SIOCGIFFLAGS, SIOCSIFFLAGS).
internal func system_interfaceUp(_ fd: CInt, _ name: UnsafePointer<CChar>) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("ioctl(SIOCSIFFLAGS)", Int(fd)) { return forced }
  #endif
  return crawsocket_interface_up(fd, name)
}

/// Sets the calling thread's filesystem gid and returns the previous one (`setfsgid(2)` never
/// fails with -1: a refused change returns the old value, so callers ask twice to confirm).
/// Per thread, unlike `setegid`, which glibc broadcasts to every thread with a signal.
internal func system_setfsgid(_ group: gid_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("setfsgid", Int(group)) { return forced }
  #endif
  return crawsocket_setfsgid(group)
}

internal func system_open(_ path: UnsafePointer<CChar>, _ flags: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("open", Int(flags)) { return forced }
  #endif
  return open(path, flags)
}

/// `open(path, O_RDONLY | O_CLOEXEC)`.
internal func system_openReadOnly(_ path: UnsafePointer<CChar>) -> CInt {
  system_open(path, O_RDONLY | O_CLOEXEC)
}

/// `open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)`: a file to write,
/// created or emptied; a symbolic link in its place is refused (`ELOOP`), never followed.
internal func system_openForWriting(_ path: UnsafePointer<CChar>, _ mode: mode_t) -> CInt {
  let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("open", Int(flags), Int(mode)) { return forced }
  #endif
  return open(path, flags, mode)
}

/// `nanosleep(request, remaining)` on the monotonic clock's terms (relative).
internal func system_nanosleep(_ request: UnsafePointer<timespec>, _ remaining: UnsafeMutablePointer<timespec>?) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("nanosleep", request.pointee.tv_sec, request.pointee.tv_nsec) { return forced }
  #endif
  return nanosleep(request, remaining)
}

/// `clock_gettime(CLOCK_REALTIME or CLOCK_BOOTTIME, now)` (served by the vDSO; not mockable: it
/// never fails for these clocks).
internal func system_clock_gettime(realTime: Bool, _ now: UnsafeMutablePointer<timespec>) -> CInt {
  clock_gettime(realTime ? CLOCK_REALTIME : CLOCK_BOOTTIME, now)
}

internal func system_read(_ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("read", Int(fd), count) { return Int(forced) }
  #endif
  return read(fd, buffer, count)
}

internal func system_readlink(
  _ path: UnsafePointer<CChar>, _ buffer: UnsafeMutablePointer<CChar>, _ count: Int
) -> Int {
  readlink(path, buffer, count)
}

/// Reads a small text file (at most 64 KiB) such as `/proc/self/status`.
internal func readSmallFile(_ path: String) -> String? {
  let fd = system_openReadOnly(path)
  guard fd >= 0 else { return nil }
  defer { _ = system_close(fd) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while bytes.count < 65_536 {
    let count = chunk.withUnsafeMutableBytes { system_read(fd, $0.baseAddress, $0.count) }
    if count < 0 {
      if system_errno() == EINTR { continue }
      return nil
    }
    if count == 0 { break }
    bytes.append(contentsOf: chunk[..<count])
  }
  return String(decoding: bytes, as: UTF8.self)
}

// MARK: - Files relative to a directory descriptor (SafeFile)

internal func system_openat(
  _ directory: CInt, _ path: UnsafePointer<CChar>, _ flags: CInt, _ mode: mode_t
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("openat", Int(directory), Int(flags), Int(mode)) { return forced }
  #endif
  return crawsocket_openat_mode(directory, path, flags, UInt32(mode))
}

internal func system_fstat(_ fd: CInt, _ buffer: UnsafeMutablePointer<stat>) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fstat", Int(fd)) { return forced }
  #endif
  return fstat(fd, buffer)
}

internal func system_fstatat(
  _ directory: CInt, _ path: UnsafePointer<CChar>, _ buffer: UnsafeMutablePointer<stat>, _ flags: CInt
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fstatat", Int(directory), Int(flags)) { return forced }
  #endif
  return fstatat(directory, path, buffer, flags)
}

internal func system_mkdir(_ path: UnsafePointer<CChar>, _ mode: mode_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("mkdir", Int(mode)) { return forced }
  #endif
  return mkdir(path, mode)
}

internal func system_renameat2(
  _ fromDirectory: CInt, _ from: UnsafePointer<CChar>, _ toDirectory: CInt, _ to: UnsafePointer<CChar>,
  _ flags: CUnsignedInt
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("renameat2", Int(fromDirectory), Int(toDirectory), Int(flags)) { return forced }
  #endif
  return crawsocket_renameat2(fromDirectory, from, toDirectory, to, flags)
}

internal func system_unlinkat(_ directory: CInt, _ path: UnsafePointer<CChar>, _ flags: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("unlinkat", Int(directory), Int(flags)) { return forced }
  #endif
  return unlinkat(directory, path, flags)
}

internal func system_fsync(_ fd: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fsync", Int(fd)) { return forced }
  #endif
  return fsync(fd)
}

internal func system_ftruncate(_ fd: CInt, _ length: off_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("ftruncate", Int(fd), Int(length)) { return forced }
  #endif
  return ftruncate(fd, length)
}

internal func system_fchown(_ fd: CInt, _ owner: uid_t, _ group: gid_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fchown", Int(fd), Int(owner), Int(group)) { return forced }
  #endif
  return fchown(fd, owner, group)
}

internal func system_fchmod(_ fd: CInt, _ mode: mode_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fchmod", Int(fd), Int(mode)) { return forced }
  #endif
  return fchmod(fd, mode)
}

internal func system_write(_ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("write", Int(fd), count) { return Int(forced) }
  #endif
  return write(fd, buffer, count)
}

internal func system_flock(_ fd: CInt, _ operation: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("flock", Int(fd), Int(operation)) { return forced }
  #endif
  return flock(fd, operation)
}

/// `dup2(fd, target)`: `target` becomes a copy of `fd` (closed first if open).
internal func system_dup2(_ fd: CInt, _ target: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("dup2", Int(fd), Int(target)) { return forced }
  #endif
  return dup2(fd, target)
}

/// `open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)`: a file to read; a symbolic link in its place
/// is refused (`ELOOP`), never followed.
internal func system_openForReading(_ path: UnsafePointer<CChar>) -> CInt {
  system_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
}

internal func system_dup(_ fd: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("dup", Int(fd)) { return forced }
  #endif
  return fcntl(fd, F_DUPFD_CLOEXEC, 3)
}

/// The names in the directory `fd` (a duplicate is read, so `fd` stays open), without `.`/`..`;
/// at most `limit` names. `nil` when it cannot be read.
internal func system_listDirectory(_ fd: CInt, limit: Int) -> [String]? {
  let copy = system_dup(fd)
  guard copy >= 0 else { return nil }
  guard let stream = fdopendir(copy) else {
    _ = system_close(copy)
    return nil
  }
  defer { closedir(stream) }
  rewinddir(stream)
  var names: [String] = []
  while names.count < limit, let entry = readdir(stream) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    if name != "." && name != ".." { names.append(name) }
  }
  return names
}

internal func system_geteuid() -> uid_t { geteuid() }
internal func system_getuid() -> uid_t { getuid() }

internal func system_getrandom(_ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
  Int(crawsocket_getrandom(buffer, UInt(count)))
}

// MARK: - Processes (the guard holder): spawn, pidfds, wait

internal func system_posix_spawn(
  _ pid: UnsafeMutablePointer<pid_t>, _ path: UnsafePointer<CChar>,
  _ actions: UnsafePointer<posix_spawn_file_actions_t>?, _ attributes: UnsafePointer<posix_spawnattr_t>?,
  _ argv: UnsafePointer<UnsafeMutablePointer<CChar>?>, _ envp: UnsafePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
  #if ENABLE_MOCKING
  if mockingIntercept("posix_spawn") != nil { return system_errno() }
  #endif
  return posix_spawn(pid, path, actions, attributes, argv, envp)
}

internal func system_pidfd_open(_ pid: pid_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("pidfd_open", Int(pid)) { return forced }
  #endif
  return crawsocket_pidfd_open(pid, 0)
}

internal func system_pidfd_send_signal(_ pidfd: CInt, _ signal: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("pidfd_send_signal", Int(pidfd), Int(signal)) { return forced }
  #endif
  return crawsocket_pidfd_send_signal(pidfd, signal)
}

internal func system_waitpid(_ pid: pid_t, _ status: UnsafeMutablePointer<CInt>, _ options: CInt) -> pid_t {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("waitpid", Int(pid), Int(options)) { return forced }
  #endif
  return waitpid(pid, status, options)
}

internal func system_pipe(_ ends: UnsafeMutablePointer<CInt>) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("pipe2") { return forced }
  #endif
  return crawsocket_pipe_cloexec(ends)
}

internal func system_close_range_cloexec(_ first: CUnsignedInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("close_range", Int(first)) { return forced }
  #endif
  return crawsocket_close_range_cloexec(first)
}

internal func system_fcntl(_ fd: CInt, _ command: CInt, _ argument: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("fcntl", Int(fd), Int(command), Int(argument)) { return forced }
  #endif
  return crawsocket_fcntl_int(fd, command, argument)
}

internal func system_lseek(_ fd: CInt, _ offset: off_t, _ whence: CInt) -> off_t {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("lseek", Int(fd), Int(offset), Int(whence)) { return off_t(forced) }
  #endif
  return lseek(fd, offset, whence)
}

/// CLOCK_MONOTONIC nanoseconds and our pid, mixed: only a last resort when no kernel randomness
/// can be had at all.
internal func system_clockAndPid() -> UInt64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return UInt64(bitPattern: Int64(now.tv_nsec)) ^ (UInt64(bitPattern: Int64(now.tv_sec)) << 30) ^ UInt64(getpid())
}

// MARK: - The script runner: namespaces, tun, sockets as a program uses them, child processes

internal func system_unshare(_ flags: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("unshare", Int(flags)) { return forced }
  #endif
  return crawsocket_unshare(flags)
}

internal func system_ioctl(_ fd: CInt, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("ioctl", Int(fd), Int(bitPattern: request)) { return forced }
  #endif
  return crawsocket_ioctl(fd, request, argument)
}

internal func system_send(_ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: CInt) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("send", Int(fd), count, Int(flags)) { return Int(forced) }
  #endif
  return send(fd, buffer, count, flags)
}

internal func system_connect(_ fd: CInt, _ address: UnsafeRawPointer, _ length: socklen_t) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("connect", Int(fd), Int(length)) { return forced }
  #endif
  return connect(fd, address.assumingMemoryBound(to: sockaddr.self), length)
}

internal func system_shutdown(_ fd: CInt, _ how: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("shutdown", Int(fd), Int(how)) { return forced }
  #endif
  return shutdown(fd, how)
}

internal func system_getpeername(
  _ fd: CInt, _ address: UnsafeMutableRawPointer, _ length: UnsafeMutablePointer<socklen_t>
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("getpeername", Int(fd)) { return forced }
  #endif
  return getpeername(fd, address.assumingMemoryBound(to: sockaddr.self), length)
}

internal func system_pipe2(_ fds: UnsafeMutablePointer<CInt>, _ flags: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("pipe2", Int(flags)) { return forced }
  #endif
  return crawsocket_pipe2(fds, flags)
}

internal func system_sendfile(_ outFD: CInt, _ inFD: CInt, _ offset: UnsafeMutablePointer<Int64>?, _ count: Int) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("sendfile", Int(outFD), Int(inFD), count) { return Int(forced) }
  #endif
  return crawsocket_sendfile(outFD, inFD, offset, UInt(count))
}

internal func system_splice(_ inFD: CInt, _ outFD: CInt, _ count: Int, _ flags: CUnsignedInt) -> Int {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("splice", Int(inFD), Int(outFD), count) { return Int(forced) }
  #endif
  return crawsocket_splice(inFD, outFD, UInt(count), flags)
}

internal func system_epoll_create1(_ flags: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("epoll_create1", Int(flags)) { return forced }
  #endif
  return epoll_create1(flags)
}

internal func system_epoll_ctl(
  _ epfd: CInt, _ operation: CInt, _ fd: CInt, _ event: UnsafeMutablePointer<epoll_event>?
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("epoll_ctl", Int(epfd), Int(operation), Int(fd)) { return forced }
  #endif
  return epoll_ctl(epfd, operation, fd, event)
}

internal func system_epoll_wait(
  _ epfd: CInt, _ events: UnsafeMutablePointer<epoll_event>, _ count: CInt, _ timeout: CInt
) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("epoll_wait", Int(epfd), Int(count), Int(timeout)) { return forced }
  #endif
  return epoll_wait(epfd, events, count, timeout)
}

/// Signals a child this process spawned itself (never a name, never a group).
internal func system_kill(_ pid: pid_t, _ signal: CInt) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("kill", Int(pid), Int(signal)) { return forced }
  #endif
  return kill(pid, signal)
}

/// `pthread_create(3)`: 0 or an errno (returned, not set).
internal func system_pthread_create(
  _ thread: UnsafeMutablePointer<pthread_t>,
  _ body: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
  _ argument: UnsafeMutableRawPointer?
) -> CInt {
  #if ENABLE_MOCKING
  if mockingIntercept("pthread_create") != nil { return system_errno() }
  #endif
  return pthread_create(thread, nil, body, argument)
}

/// `pthread_join(3)`: 0 or an errno (returned, not set). The mocking driver records the call but
/// a forced errno is ignored: a started thread is always joined for real, or it would outlive its work.
internal func system_pthread_join(_ thread: pthread_t) -> CInt {
  #if ENABLE_MOCKING
  _ = mockingIntercept("pthread_join")
  #endif
  return pthread_join(thread, nil)
}

internal func system_ppoll(_ fds: UnsafeMutablePointer<pollfd>, _ count: nfds_t, _ nanoseconds: Int64) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("ppoll", Int(count), Int(nanoseconds)) { return forced }
  #endif
  return crawsocket_ppoll(fds, UInt(count), nanoseconds)
}

internal func system_set_timer_slack(_ nanoseconds: UInt) -> CInt {
  crawsocket_set_timer_slack_ns(nanoseconds)
}

/// Whether the real user may use `path` as `mode` says (`access(2)`; X_OK: an executable file).
internal func system_access(_ path: String, _ mode: CInt = X_OK) -> Bool {
  #if ENABLE_MOCKING
  if mockingIntercept("access", Int(mode)) != nil { return false }
  #endif
  return access(path, mode) == 0
}

internal func system_set_realtime(_ resetOnFork: Bool) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("sched_setscheduler", resetOnFork ? 1 : 0) { return forced }
  #endif
  return crawsocket_set_realtime(resetOnFork ? 1 : 0)
}

/// `signal(2)`: sets the disposition of `signal` (`SIG_IGN`, `SIG_DFL` or a handler); 0 on
/// success, -1 with errno set (`SIG_ERR`).
internal func system_signal(_ signal: CInt, _ handler: __sighandler_t?) -> CInt {
  #if ENABLE_MOCKING
  if let forced = mockingIntercept("signal", Int(signal)) { return forced }
  #endif
  // SIG_ERR is the handler value -1.
  let previous = Glibc.signal(signal, handler)
  return unsafeBitCast(previous, to: Int.self) == -1 ? -1 : 0
}

/// `pthread_sigmask(2)` with `SIG_UNBLOCK` for `signals` on the calling thread; 0 or an errno.
internal func system_unblockSignals(_ signals: [CInt]) -> CInt {
  #if ENABLE_MOCKING
  if mockingIntercept("pthread_sigmask", signals.count) != nil { return system_errno() }
  #endif
  var set = sigset_t()
  sigemptyset(&set)
  for signal in signals { sigaddset(&set, signal) }
  return pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
