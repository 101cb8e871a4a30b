#if canImport(Glibc)
import Glibc
#endif
import PacketKit
import RawSocket
import Synchronization

/// How to run a script: packetdrill's defaults (its `run_all.py` addresses, 4 ms tolerance).
public struct ScriptRunOptions: Sendable {
  public var localAddress: IPv4Address = IPv4Address(192, 168, 0, 1)
  public var remoteAddress: IPv4Address = IPv4Address(192, 0, 2, 1)
  public var netmask: IPv4Address = IPv4Address(255, 255, 0, 0)
  /// `ipv4`, `ipv6` or `ipv4-mapped-ipv6` (see `ScriptIPVersion`); `nil`: the script's own
  /// `--ip_version=`, else ipv4.
  public var ipVersion: ScriptIPVersion?
  /// `run_all.py -6`'s addresses: the kernel under test fd3d:a0b:17d6::1/48, the remote end
  /// fd3d:fa7b:d17d::1 routed via the gateway fd3d:a0b:17d6:8888::1, and a 1520-byte MTU (an MSS
  /// of 1460, as IPv4's 1500).
  public var localIPv6: IPv6Address = IPv6Address(groups: [0xFD3D, 0x0A0B, 0x17D6, 0, 0, 0, 0, 1])
  public var remoteIPv6: IPv6Address = IPv6Address(groups: [0xFD3D, 0xFA7B, 0xD17D, 0, 0, 0, 0, 1])
  public var gatewayIPv6: IPv6Address = IPv6Address(groups: [0xFD3D, 0x0A0B, 0x17D6, 0x8888, 0, 0, 0, 1])
  public var ipv6PrefixLength: UInt8 = 48
  public var ipv6MTU: Int32 = 1520
  /// How far an event may be from its script time (packetdrill's `--tolerance_usecs`, 4000).
  public var toleranceMicroseconds: Int64 = 4000
  /// Or this percentage of the time since the previous event, when larger (packetdrill: 12.5).
  public var tolerancePercent: Double = 12.5
  /// The `PATH` for backtick commands.
  public var path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  /// Where `python3` is, for `%{ }%` blocks (`nil`: such scripts are NOT RUN).
  public var python: String?
  /// This process's id, for `PACKETDRILL_PID`.
  public var processIdentifier: Int32 = 0
  /// Called with each transcript entry as it happens (`--verbose`).
  public var onEntry: (@Sendable (ScriptTranscriptEntry) -> Void)?
  /// Read the kernel socket's state (inet_diag) after each TCP segment, for pictures (`run
  /// --svg`): a netlink query a segment, so off by default (timelines of milliseconds).
  public var samplesKernelState = false
  public init() {}
}

/// One thing that happened during a run, for reports.
public struct ScriptTranscriptEntry: Hashable, Sendable {
  public enum Kind: String, Hashable, Sendable { case inbound = "<", outbound = ">", call = "call", command = "cmd" }
  /// Microseconds since the script started.
  public var time: Int64
  public var kind: Kind
  /// A tcpdump line for packets; the call and its result for system calls.
  public var text: String
  public var line: Int
  /// The packet bytes (IPv4), for pcap files.
  public var packet: [UInt8]?
  /// The state of the kernel's socket for this segment's connection just after it (Linux's
  /// spelling, `SYN_RECV`), when `ScriptRunOptions.samplesKernelState` asked for it.
  public var kernelState: String? = nil
  /// For an injected segment, the state just before it (same condition).
  public var kernelStateBefore: String? = nil
  /// What the runner made of this segment, when it did not simply match it against its line
  /// (`text` ends with the note's words in parentheses).
  public var note: Note? = nil

  /// The runner's notes on an outbound segment.
  public enum Note: String, Hashable, Sendable {
    /// One of several segments the kernel split a line's data into (merged before matching).
    case piece = "a piece"
    /// Arrived after the line's time window and was matched anyway.
    case late = "late"
    /// Another connection's segment: not matched against the line.
    case otherConnection = "another connection: ignored"
  }
}

/// Why a script failed: where, what was expected, what came.
public struct ScriptFailure: Hashable, Sendable {
  public var location: ScriptLocation
  /// The script line as written.
  public var lineText: String
  public var message: String
  /// Expected and actual packets as tcpdump lines, when a packet was involved.
  public var expected: String?
  public var actual: String?
  /// How far from the script's time it happened (microseconds; positive = late).
  public var timeError: Int64?
  /// The kernel's view of the script's TCP sockets when it failed (inet_diag, queried in the
  /// script's namespace): state, addresses, queues and pending timer, one line per socket.
  public var kernelSockets: [String] = []
}

/// The outcome of one script.
public struct ScriptResult: Sendable {
  public enum Status: String, Sendable { case passed = "PASS", failed = "FAIL", notRun = "NOT RUN" }
  public var path: String
  public var status: Status
  /// Why it failed or was not run.
  public var reason: String?
  public var failure: ScriptFailure?
  public var transcript: [ScriptTranscriptEntry]
  /// Wall time in microseconds.
  public var duration: Int64
  /// The wall clock (microseconds since the Unix epoch) at the script's time 0: packet times in
  /// pcap files are this plus the entry's script time.
  public var startRealtimeMicroseconds: Int64 = 0
  public init(
    path: String, status: Status, reason: String? = nil, failure: ScriptFailure? = nil,
    transcript: [ScriptTranscriptEntry] = [], duration: Int64 = 0
  ) {
    self.path = path
    self.status = status
    self.reason = reason
    self.failure = failure
    self.transcript = transcript
    self.duration = duration
  }
}

/// Plays a script against a fresh network namespace of its own (see docs/scripts.md).
public enum ScriptRunner {
  /// Parses and runs `text`. `directory` is the working directory of backtick commands.
  public static func run(
    text: String, path: String, directory: String, defines: [String: String] = [:],
    options: ScriptRunOptions = ScriptRunOptions()
  ) -> ScriptResult {
    do throws(ScriptParseError) {
      let script = try ScriptParser.parse(text, file: path, defines: defines, ipVersion: options.ipVersion)
      return run(script, directory: directory, options: options)
    } catch {
      return ScriptResult(
        path: path, status: .failed, reason: "parse error: \(error)", failure: nil, transcript: [], duration: 0)
    }
  }

  /// Runs a parsed script on a thread of its own inside a new, anonymous network namespace, which
  /// disappears with the thread and its sockets (nothing is left behind, even on SIGKILL).
  public static func run(_ script: Script, directory: String, options: ScriptRunOptions = ScriptRunOptions()) -> ScriptResult {
    let box = Mutex<ScriptResult?>(nil)
    let start = ContinuousClock.now
    let thread: IsolatedThread
    do {
      thread = try IsolatedThread.start {
        var session = ScriptSession(script: script, directory: directory, options: options)
        let result = session.play()
        box.withLock { $0 = result }
      }
    } catch {
      return ScriptResult(
        path: script.path, status: .notRun, reason: "cannot start a thread: \(error)", failure: nil,
        transcript: [], duration: 0)
    }
    thread.join()
    var result = box.withLock { $0 } ?? ScriptResult(
      path: script.path, status: .notRun, reason: "the runner thread gave no result", failure: nil,
      transcript: [], duration: 0)
    let elapsed = ContinuousClock.now - start
    result.duration = elapsed.nanoseconds / 1000
    return result
  }
}

/// Runs calls one at a time on a thread of its own, so that a blocking call (accept, read,
/// connect) blocks there while the script goes on injecting packets. Completion is signalled on a
/// pipe the runner polls beside the tun device.
final class CallWorker: @unchecked Sendable {
  private struct State {
    var job: (@Sendable () -> CallOutcome)?
    var result: CallOutcome?
    var stop = false
    /// When the job was handed over (for `TCPCRAFT_TRACE_TIMING`: the worker's wake-up delay).
    var submitted = ContinuousClock.now
  }
  private let traces = ScriptSession.tracesTiming
  private let state = Mutex(State())
  let jobRead: Int32, jobWrite: Int32, doneRead: Int32, doneWrite: Int32
  private var thread: IsolatedThread?

  init() throws(ScriptRunError) {
    guard case .success(let jobs) = ScriptSockets.pipe(nonBlocking: false),
      case .success(let done) = ScriptSockets.pipe(nonBlocking: true)
    else { throw ScriptRunError("cannot create the call worker's pipes") }
    (jobRead, jobWrite) = jobs
    (doneRead, doneWrite) = done
    do {
      thread = try IsolatedThread.start { [self] in self.loop() }
    } catch {
      throw ScriptRunError("cannot start the call worker: \(error)")
    }
  }

  private func loop() {
    IsolatedThread.raiseToRealtimePriority(resetOnFork: true)
    while true {
      guard case .success(let count) = ScriptSockets.read(jobRead, count: 1), count == 1 else { return }
      let (job, stop, submitted) = state.withLock { ($0.job, $0.stop, $0.submitted) }
      if stop { return }
      guard let job else { continue }
      let began = ContinuousClock.now
      if traces {
        let micros = (began - submitted).nanoseconds / 1000
        _ = ScriptSockets.write(2, bytes: Array("call worker woke \(micros) us after the submission\n".utf8))
      }
      var outcome = job()
      outcome.duration = ContinuousClock.now - began
      if traces {
        let micros = outcome.duration.nanoseconds / 1000
        _ = ScriptSockets.write(2, bytes: Array("call worker: the call took \(micros) us\n".utf8))
      }
      state.withLock {
        $0.job = nil
        $0.result = outcome
      }
      _ = ScriptSockets.write(doneWrite, bytes: [1])
    }
  }

  func submit(_ job: @escaping @Sendable () -> CallOutcome) {
    state.withLock {
      $0.job = job
      $0.result = nil
      $0.submitted = ContinuousClock.now
    }
    _ = ScriptSockets.write(jobWrite, bytes: [1])
  }

  /// The finished call's outcome, once (after the done pipe became readable).
  func takeResult() -> CallOutcome? {
    _ = ScriptSockets.read(doneRead, count: 16)
    return state.withLock { state in
      defer { state.result = nil }
      return state.result
    }
  }

  /// Stops the thread. A call still blocked must be woken first (the runner shuts its sockets).
  func stop() {
    state.withLock { $0.stop = true }
    _ = ScriptSockets.write(jobWrite, bytes: [1])
    thread?.join()
    for fd in [jobRead, jobWrite, doneRead, doneWrite] { _ = ScriptSockets.close(fd) }
  }
}

/// One script's run, on the namespace thread.
struct ScriptSession {
  let script: Script
  let directory: String
  let options: ScriptRunOptions
  var connection: ScriptConnection
  var executor: ScriptSyscallExecutor
  var transcript: [ScriptTranscriptEntry] = []
  let clock = ContinuousClock()
  var start = ContinuousClock.now
  /// Microseconds added to the start by commands (they take no script time).
  var tolerance: Int64
  var captured: [(packet: [UInt8], time: Int64)] = []
  /// One receive buffer for the tun device, reused by every `pump` (not 64 KiB per wake-up).
  var tunBuffer = [UInt8](repeating: 0, count: 65_536)
  var tun: TunDevice?
  /// The kernel's send times of the packets read from the tun (a packet socket on it).
  var stamps: OutboundTimestamps?
  var worker: CallWorker?
  /// A call still running: the event, the script times, and how to check it.
  var pending: (event: ScriptEvent, call: ScriptSyscall, prepared: PreparedCall, start: Int64, end: Int64, tolerance: Int64)?
  var pendingOutcome: (CallOutcome, Int64)?
  /// When the call in flight was handed to the worker (script microseconds).
  var submittedAt: Int64 = 0
  var liveDescriptors: Set<Int32> = []
  /// `%{ }%` blocks waiting for the end of the script: the line, python3's path, the program.
  var deferredPython: [(ScriptEvent, String, String)] = []
  /// A `listen` succeeded and no SYN came since: the next inbound SYN starts a new connection.
  var listenerUnderTest = false
  /// Inbound connections started so far (each after the first gets a new remote port).
  var inboundConnections = 0
  /// The socket that started an active open last (connect, or sendto/sendmsg before it is
  /// connected), and its local port once known: its SYN is the one a `> S` line is about.
  var activeOpenDescriptor: Int32?
  var activeOpenPort: UInt16?
  /// Ports of the script's earlier connections' SYNs: while a new socket's SYN is expected, a SYN
  /// from one of them is an older socket's retransmission.
  var seenSYNPorts: Set<UInt16> = []
  var otherSYNPorts: Set<UInt16> = []
  /// Script descriptor numbers in the order they were opened (socket, accept, open...), latest
  /// last: `%{ }%` blocks read tcp_info from the latest TCP socket, whatever its number.
  var openedDescriptors: [Int64] = []
  /// inet_diag in the script's namespace, for `samplesKernelState`; whether it saw a connection.
  var diag: InetDiag?
  var sawKernelConnection = false
  /// The script's UDP socket: its port and peer, learned after each call on it.
  var udp = ScriptUDPEndpoint()
  /// Where backtick commands start: the script's folder, or "." once the runner thread's own
  /// working directory is that folder (with a private /tmp, its path may be covered).
  var commandDirectory: String

  init(script: Script, directory: String, options: ScriptRunOptions) {
    self.script = script
    self.directory = directory
    self.commandDirectory = directory
    self.options = options
    self.connection = ScriptConnection(
      localAddress: options.localAddress, remoteAddress: options.remoteAddress, remotePort: 48_123,
      remoteISN: 0)
    connection.ipVersion = options.ipVersion ?? script.ipVersion
    connection.localIPv6 = options.localIPv6
    connection.remoteIPv6 = options.remoteIPv6
    self.executor = ScriptSyscallExecutor(connection: connection)
    var tolerance = options.toleranceMicroseconds
    if let written = script.options["tolerance_usecs"], let value = Int64(written), value > 0 { tolerance = value }
    self.tolerance = tolerance
  }

  var now: Int64 {
    (clock.now - start).nanoseconds / 1000
  }

  // MARK: - Outcomes

  func result(_ status: ScriptResult.Status, _ reason: String?, _ failure: ScriptFailure? = nil) -> ScriptResult {
    var result = ScriptResult(path: script.path, status: status, reason: reason, failure: failure, transcript: transcript, duration: 0)
    result.startRealtimeMicroseconds = executor.realtimeStart
    return result
  }

  struct Stop: Error {
    var status: ScriptResult.Status
    var reason: String
    var failure: ScriptFailure?
  }

  func fail(_ event: ScriptEvent, _ message: String, expected: String? = nil, actual: String? = nil, timeError: Int64? = nil) -> Stop {
    Stop(
      status: .failed, reason: "\(event.location.file):\(event.location.line): \(message)",
      failure: ScriptFailure(
        location: event.location, lineText: event.text.scriptTrimmed, message: message, expected: expected,
        actual: actual, timeError: timeError))
  }

  mutating func record(
    _ kind: ScriptTranscriptEntry.Kind, _ text: String, line: Int, packet: [UInt8]? = nil, note: ScriptTranscriptEntry.Note? = nil
  ) {
    var entry = ScriptTranscriptEntry(
      time: now, kind: kind, text: note.map { "\(text) (\($0.rawValue))" } ?? text, line: line, packet: packet)
    entry.note = note
    if options.samplesKernelState, let packet, kind == .inbound || kind == .outbound {
      entry.kernelState = kernelState(for: packet, inbound: kind == .inbound)
    }
    transcript.append(entry)
    options.onEntry?(entry)
  }

  // MARK: - Setup and teardown

  mutating func setUp() throws(Stop) {
    do throws(Errno) {
      try NetworkNamespace.unshareCurrentThread()
    } catch {
      throw Stop(
        status: .notRun,
        reason: "cannot create a network namespace (\(error)): needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run as root, with sudo)")
    }
    do throws(SocketError) {
      try InterfaceSetup.bringUp("lo")
      let device = try TunDevice.create(name: "tun0", offloads: true)
      tun = device
      if connection.ipVersion.wireIsIPv6 {
        try setUpIPv6(device)
      } else {
        try InterfaceSetup.setAddress(device.name, address: options.localAddress.rawValue, netmask: options.netmask.rawValue)
        try InterfaceSetup.bringUp(device.name, mtu: 1500)
        if (options.remoteAddress.rawValue & options.netmask.rawValue) != (options.localAddress.rawValue & options.netmask.rawValue) {
          try InterfaceSetup.addRoute(
            destination: options.remoteAddress.rawValue, netmask: 0xFFFF_FFFF, device: device.name)
        }
      }
    } catch {
      // A user namespace gives CAP_NET_ADMIN, not file permissions: /dev/net/tun must be open to
      // the user (most distributions ship it 0666; some machines keep it 0600, root only).
      let access = "\(error)".contains("EACCES")
        ? " (/dev/net/tun is not open to this user: its mode keeps it root's; run with sudo, or make it 0666 as most distributions ship it)"
        : ""
      throw Stop(status: .notRun, reason: "cannot set up the tun device: \(error)\(access)")
    }
    stamps = OutboundTimestamps(interface: "tun0")
    // A private /tmp for this script's commands (parallel scripts of the corpus all write
    // /tmp/sysctl_restore_${PPID}.sh, and their PPID is tcpcraft's): the thread gets a mount
    // namespace of its own, with the script's folder as its working directory.
    do throws(PrivateTmp.Failure) {
      try PrivateTmp.enterOnCurrentThread(directory: directory)
      commandDirectory = "."
    } catch {
      if error.inDirectory { commandDirectory = "." }
      record(.command, "no private /tmp (\(error)): commands share the host's /tmp", line: 0)
    }
    do throws(ScriptRunError) {
      worker = try CallWorker()
    } catch {
      throw Stop(status: .notRun, reason: error.message)
    }
  }

  mutating func tearDown() {
    for fd in liveDescriptors { _ = ScriptSockets.shutdown(fd, how: 2) }
    worker?.stop()
    for fd in liveDescriptors { _ = ScriptSockets.close(fd) }
    liveDescriptors = []
    tun?.close()
  }

  // MARK: - The timeline

  mutating func play() -> ScriptResult {
    do throws(Stop) {
      try preflight()
      try setUp()
    } catch {
      return result(error.status, error.reason, error.failure)
    }
    defer { tearDown() }
    ScriptSockets.setTimerSlack(nanoseconds: 1)
    // packetdrill's choice: the lowest real-time priority, so a busy machine does not make the
    // kernel look late. Commands spawned from here start as ordinary processes (reset on fork).
    IsolatedThread.raiseToRealtimePriority(resetOnFork: true)
    start = clock.now
    executor.realtimeStart = ScriptSockets.realtimeMicroseconds()
    var previous: Int64 = 0
    var previousInbound = false
    do throws(Stop) {
      for event in script.events {
        var time: Int64
        // packetdrill's anchor for a relative time: when the previous event actually finished
        // (a packet arrived, a call returned), except between consecutive inbound packets, which
        // count from each other's script times so that they do not drift.
        let inbound: Bool
        switch event.action {
        case .packet(let line): inbound = line.inbound
        case .icmp(let line): inbound = line.inbound
        case .udp(let line): inbound = line.inbound
        default: inbound = false
        }
        switch event.time.kind {
        case .absolute: time = event.time.microseconds
        case .relative: time = (previousInbound && inbound ? previous : max(0, now)) + event.time.microseconds
        case .any: time = max(previous, now)
        }
        previousInbound = inbound
        let slack = ScriptTiming.tolerance(microseconds: tolerance, percent: options.tolerancePercent, gap: time - previous)
        switch event.action {
        case .packet(let line) where line.inbound:
          try wait(until: time)
          try inject(line, event: event)
        case .packet(let line):
          // `start~end`: the packet may come anywhere in the range.
          let (end, deadline) = outboundWindow(event, time: time, slack: slack)
          try expect(line, event: event, time: time, end: end, deadline: deadline, slack: slack, any: event.time.kind == .any)
        case .icmp(let line) where line.inbound:
          try wait(until: time)
          try injectICMP(line, event: event)
        case .icmp(let line):
          let (end, deadline) = outboundWindow(event, time: time, slack: slack)
          try expectICMP(line, event: event, time: time, end: end, deadline: deadline, slack: slack, any: event.time.kind == .any)
        case .udp(let line) where line.inbound:
          try wait(until: time)
          try injectUDP(line, event: event)
        case .udp(let line):
          let (end, deadline) = outboundWindow(event, time: time, slack: slack)
          try expectUDP(line, event: event, time: time, end: end, deadline: deadline, slack: slack, any: event.time.kind == .any)
        case .syscall(let call):
          try wait(until: time)
          try settlePending()
          try startCall(call, event: event, start: time, end: rangeEnd(event, time: time), ranged: event.time.end != nil, slack: slack)
        case .shell(let command):
          try wait(until: time)
          try runCommand(command, event: event)
        case .python(let code):
          try wait(until: time)
          try runPython(code, event: event)
        case .unsupported(let reason):
          throw Stop(status: .notRun, reason: "\(event.location.file):\(event.location.line): \(reason)")
        }
        previous = time
      }
      try settlePending()
      try runDeferredPython()
    } catch {
      guard var failure = error.failure else { return result(error.status, error.reason, nil) }
      failure.kernelSockets = kernelSocketStates()
      return result(error.status, error.reason, failure)
    }
    return result(.passed, nil)
  }

  /// An event's range end (`start~end`, the end relative or absolute); `time` without a range.
  func rangeEnd(_ event: ScriptEvent, time: Int64) -> Int64 {
    guard let written = event.time.end else { return time }
    return event.time.endIsRelative ? time + written : written
  }

  /// An outbound line's range end (`start~end`) and how long to wait for it.
  func outboundWindow(_ event: ScriptEvent, time: Int64, slack: Int64) -> (end: Int64, deadline: Int64) {
    let end = rangeEnd(event, time: time)
    return (end, event.time.kind == .any ? now + 10_000_000 : max(time, end) + slack)
  }

  /// Every TCP socket of the script's namespace as inet_diag reports it (this thread is in the
  /// namespace, so the dump holds the script's sockets and nothing else), for failure reports.
  func kernelSocketStates() -> [String] {
    do throws(NetlinkError) {
      let diag = try InetDiag(timeout: .milliseconds(500))
      var sockets = try diag.allSockets()
      if connection.ipVersion != .ipv4 { sockets += try diag.allIPv6Sockets() }
      return sockets.prefix(16).map { socket in
        var text = socket.description + " recv-q \(socket.receiveQueue) send-q \(socket.sendQueue)"
        let timers = ["", "retransmit", "keepalive", "time-wait", "zero-window probe"]
        if socket.timer != 0 {
          let name = Int(socket.timer) < timers.count ? timers[Int(socket.timer)] : "timer \(socket.timer)"
          text += " timer \(name) in \(socket.timerExpiresMilliseconds) ms"
          if socket.retransmits > 0 { text += " (retransmits \(socket.retransmits))" }
        }
        return text
      }
    } catch {
      return ["(inet_diag query failed: \(error))"]
    }
  }

  /// Reasons not to run at all, found before anything is created.
  func preflight() throws(Stop) {
    for event in script.events {
      if case .unsupported(let reason) = event.action {
        throw Stop(status: .notRun, reason: "\(event.location.file):\(event.location.line): \(reason)")
      }
      if case .python = event.action, options.python == nil {
        throw Stop(status: .notRun, reason: "\(event.location.file):\(event.location.line): a %{ }% block needs python3, which was not found")
      }
    }
    try preflightAddressing()
  }

  /// Waits until script time `time`, capturing packets and finishing calls meanwhile.
  mutating func wait(until time: Int64) throws(Stop) {
    while true {
      let left = time - now
      if left <= 0 { return }
      try pump(timeoutMicroseconds: left)
    }
  }

  /// Polls the tun device and the call worker once, for at most `timeoutMicroseconds`.
  mutating func pump(timeoutMicroseconds: Int64) throws(Stop) {
    guard let tun, let worker else { return }
    let polled = ScriptSockets.poll(
      [(tun.descriptor.rawValue, 1), (worker.doneRead, 1)], timeoutMicroseconds: max(0, timeoutMicroseconds))
    guard case .success(let (ready, revents)) = polled, ready > 0 else { return }
    if revents[0] & 1 != 0 {
      var read: [[UInt8]] = []
      while read.count < 4096, let count = try? tun.receive(timeoutMilliseconds: 0, into: &tunBuffer), count > 0 {
        read.append(Array(tunBuffer.prefix(count)))
      }
      // Each packet's time is when the kernel sent it, not when this thread woke to read it: the
      // packet socket's copy, queued before the tun's, carries the kernel's stamp.
      let readTime = now
      stamps?.drain(now: readTime)
      for packet in read {
        let time = stamps?.time(of: packet, readTime: readTime) ?? readTime
        // Only the kernel under test's packets (router solicitations, MLD reports and the like
        // from tun0's link-local address are not the script's).
        guard isFromKernelUnderTest(packet) else { continue }
        if traceTiming { traceLine("outbound read \(readTime) kernel \(time) late \(readTime - time) us") }
        captured.append((packet, time))
      }
    }
    if revents[1] & 1 != 0, let outcome = worker.takeResult() {
      // When the call returned, as the kernel saw it: its start (our submission) plus how long it
      // took on the worker. Thread wake-up delays on a loaded machine are not the kernel's doing.
      let took = outcome.duration.nanoseconds / 1000
      pendingOutcome = (outcome, min(now, submittedAt + took))
      try checkPendingIfDone()
    }
  }

  // MARK: - Packets

  mutating func inject(_ line: ScriptPacket, event: ScriptEvent) throws(Stop) {
    if line.flags.contains(.syn), !line.flags.contains(.ack), listenerUnderTest {
      // packetdrill's rule: a SYN to a socket that has just listened starts a new connection,
      // from a new remote port (a script that closes a listener, opens another and sends the
      // same SYN again must not hit the first connection's socket).
      if inboundConnections > 0 {
        connection.remotePort = connection.remotePort >= 60_999 ? 32_768 : connection.remotePort + 1
      }
      inboundConnections += 1
      listenerUnderTest = false
    }
    if line.flags.contains(.syn), !line.flags.contains(.ack), connection.localPort == nil {
      connection.localPort = executor.bindPort
    }
    // An inbound SYN's sequence number is the remote end's ISN, as written.
    if line.flags.contains(.syn) {
      connection.remoteISN = line.sequenceStart
      executor.connection = connection
    }
    let packet: [UInt8]
    do throws(ScriptRunError) {
      packet = try ScriptMatcher.inboundPacket(line, connection: connection)
    } catch {
      throw fail(event, error.message)
    }
    let before = options.samplesKernelState ? kernelState(for: packet, inbound: true) : nil
    do throws(Errno) {
      try tun?.send(packet)
    } catch {
      throw fail(event, "cannot inject the packet: \(error)")
    }
    record(.inbound, scriptSummary(packet), line: event.location.line, packet: packet)
    if before != nil, !transcript.isEmpty { transcript[transcript.count - 1].kernelStateBefore = before }
  }

  mutating func injectICMP(_ line: ScriptICMP, event: ScriptEvent) throws(Stop) {
    let packet: [UInt8]
    do throws(ScriptRunError) {
      packet = try ScriptMatcher.icmpPacket(line, connection: connection, udp: udp)
    } catch {
      throw fail(event, error.message)
    }
    try send(packet, event: event, what: "ICMP message")
  }

  mutating func expect(
    _ line: ScriptPacket, event: ScriptEvent, time: Int64, end: Int64, deadline: Int64, slack: Int64, any: Bool
  ) throws(Stop) {
    dropOtherConnections(line, event: event)
    while captured.isEmpty {
      let left = deadline - now
      if left <= 0 {
        // Sent in time and read late (this thread woke after the deadline): its stamp says so.
        try pump(timeoutMicroseconds: 0)
        dropOtherConnections(line, event: event)
        if !captured.isEmpty { break }
        let expected = ScriptMatcher.expectedSummary(line, connection: connection)
        let late = lookForLatePacket(line, event: event)
        throw fail(
          event,
          "expected packet did not arrive (waited until \(seconds(deadline)), tolerance \(seconds(slack)))"
            + (late.map { "; a packet came at \(seconds($0.time)) s, \(seconds($0.time - deadline)) s after that" }
              ?? "; nothing came in a further \(seconds(Self.lateLook)) s"),
          expected: expected, actual: late.map { scriptSummary($0.packet) } ?? "nothing",
          timeError: late.map { $0.time - time })
      }
      try pump(timeoutMicroseconds: left)
      dropOtherConnections(line, event: event)
    }
    var (packet, arrival) = captured.removeFirst()
    // One script segment may leave the stack as several smaller ones (TSO autosizing, pacing):
    // as packetdrill does without --strict_segments, consecutive pieces that continue each other
    // are put together until they cover the script's length.
    if script.options["strict_segments"] == nil {
      var pieces = [packet]
      while let covered = ScriptMatcher.coveredLength(pieces, line: line, connection: connection), covered < line.length {
        while captured.isEmpty, now < deadline { try pump(timeoutMicroseconds: deadline - now) }
        guard !captured.isEmpty else { break }
        pieces.append(captured.removeFirst().packet)
      }
      if pieces.count > 1, let merged = ScriptMatcher.merge(pieces) {
        for piece in pieces.dropLast() { record(.outbound, scriptSummary(piece), line: event.location.line, packet: piece, note: .piece) }
        packet = merged
      }
    }
    var learned = connection
    ScriptMatcher.learn(from: packet, line: line, connection: &learned)
    let actualText = scriptSummary(packet)
    let expectedText = ScriptMatcher.expectedSummary(line, connection: learned)
    record(.outbound, actualText, line: event.location.line, packet: packet)
    var mismatches = ScriptMatcher.mismatches(packet, line: line, connection: learned)
    if let flowLabel = ScriptMatcher.flowLabelMismatch(packet, line: line, connection: &learned) { mismatches.append(flowLabel) }
    if !mismatches.isEmpty {
      throw fail(
        event, "outbound packet does not match: " + mismatches.map(\.description).joined(separator: "; "),
        expected: expectedText, actual: actualText, timeError: arrival - time)
    }
    connection = learned
    executor.connection = learned
    if line.flags.contains(.syn), !line.flags.contains(.ack), let port = learned.localPort { seenSYNPorts.insert(port) }
    try checkArrival(arrival, event: event, time: time, end: end, slack: slack, any: any, expected: expectedText, actual: actualText)
  }

  /// Fails with a timing error when an outbound packet that came at `arrival` is outside its
  /// line's `time` (`~end`) and `slack` (never for a `*` line). Shared by every outbound line.
  func checkArrival(
    _ arrival: Int64, event: ScriptEvent, time: Int64, end: Int64, slack: Int64, any: Bool, expected: String?, actual: String
  ) throws(Stop) {
    guard !any, !ScriptTiming.isOnTime(arrival, start: time, end: end, tolerance: slack) else { return }
    throw fail(
      event,
      "timing error: expected the packet at \(seconds(time))\(end != time ? "~\(seconds(end))" : "") s, it came at \(seconds(arrival)) s (tolerance \(seconds(slack)) s)",
      expected: expected, actual: actual, timeError: arrival - time)
  }

  /// How long a failing outbound line still looks for its packet, to say when it came (a packet
  /// held back, as by another holder of the socket, kernel fact 32, shows as late, not missing).
  /// packetdrill waits up to 2 s past the expected time and reports a timing error then.
  static let lateLook: Int64 = 250_000

  /// After an outbound line's deadline: the first packet of its connection within `lateLook`
  /// (shown in the transcript as late), or nil. The line fails either way; a call that finishes
  /// meanwhile is not checked (the packet's failure is the one reported).
  mutating func lookForLatePacket(_ line: ScriptPacket, event: ScriptEvent) -> (packet: [UInt8], time: Int64)? {
    let until = now + Self.lateLook
    while captured.isEmpty, now < until {
      do throws(Stop) {
        try pump(timeoutMicroseconds: until - now)
      } catch {
        break
      }
      dropOtherConnections(line, event: event)
    }
    guard let first = captured.first else { return nil }
    record(.outbound, scriptSummary(first.packet), line: event.location.line, packet: first.packet, note: .late)
    return first
  }

  /// Segments of another connection than the one the line is about are not matched against it
  /// (packetdrill ignores them too): when the kernel's new SYN is expected, what an older
  /// connection still sends; otherwise, anything from another local port.
  mutating func dropOtherConnections(_ line: ScriptPacket, event: ScriptEvent) {
    let newConnection = line.flags.contains(.syn) && !line.flags.contains(.ack)
    while let (packet, _) = captured.first, let tcp = ScriptWirePacket(packet)?.tcp {
      // A new connection starts with a SYN: while one is expected, any segment without SYN
      // belongs to an older connection (a TFO client script's earlier socket, closed with its
      // FIN still going out, may have any port); otherwise a segment from another port does.
      // Nor is a SYN from another port than the one the last connecting socket took: an older
      // socket's retransmitted SYN (a TFO client script's over-acked SYN, say).
      let other = newConnection
        ? !tcp.flags.contains(.syn) || (activeOpenPort.map { tcp.sourcePort != $0 } ?? false)
          || otherSYNPorts.contains(tcp.sourcePort)
        : connection.localPort.map { tcp.sourcePort != $0 } ?? false
      guard other else { return }
      captured.removeFirst()
      record(.outbound, scriptSummary(packet), line: event.location.line, packet: packet, note: .otherConnection)
    }
  }

  func seconds(_ microseconds: Int64) -> String {
    let sign = microseconds < 0 ? "-" : ""
    let value = abs(microseconds)
    let fraction = String(value % 1_000_000)
    return "\(sign)\(value / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
  }

  // MARK: - System calls

  mutating func startCall(
    _ call: ScriptSyscall, event: ScriptEvent, start: Int64, end: Int64, ranged: Bool, slack: Int64
  ) throws(Stop) {
    let prepared: PreparedCall
    do throws(ScriptRunError) {
      prepared = try executor.prepare(call)
    } catch {
      if error.unsupported {
        throw Stop(status: .notRun, reason: "\(event.location.file):\(event.location.line): \(error.message)")
      }
      throw fail(event, error.message)
    }
    guard let worker else { return }
    // packetdrill checks a blocking call's return against its end time with a tolerance that
    // grows with the call's own span (the percentage of end - start), not the gap before it.
    let returnSlack = max(slack, ScriptTiming.tolerance(microseconds: tolerance, percent: options.tolerancePercent, gap: end - start))
    pending = (event, call, prepared, start, end, returnSlack)
    pendingOutcome = nil
    submittedAt = now
    noteActiveOpen(call)
    if !prepared.mayBlock, !ranged {
      let outcome = prepared.run()
      pendingOutcome = (outcome, now)
      try checkPendingIfDone()
      return
    }
    worker.submit(prepared.run)
    if ranged { return }
    // Not ranged: it must return by its time plus the tolerance.
    try settlePending()
  }

  /// Before a call runs: a connect, sendto or sendmsg on a TCP socket that is not connected yet
  /// starts an active open. Its SYN may leave before a blocking call returns, so the socket's port
  /// is taken now when it has one, and otherwise every earlier connection's port is ruled out.
  mutating func noteActiveOpen(_ call: ScriptSyscall) {
    guard ["connect", "sendto", "sendmsg"].contains(call.name), let number = call.arguments.first,
      let fd = try? executor.descriptor(number), !ScriptSockets.isDatagram(fd),
      case .failure = ScriptSockets.socketName(fd, peer: true)
    else { return }
    activeOpenDescriptor = fd
    if case .success(let name) = ScriptSockets.socketName(fd, peer: false), name.port != 0 {
      activeOpenPort = name.port
    } else {
      activeOpenPort = nil
    }
    otherSYNPorts = seenSYNPorts.subtracting(activeOpenPort.map { [$0] } ?? [])
  }

  /// Waits for the call in flight to finish (until its end time plus tolerance) and checks it.
  mutating func settlePending() throws(Stop) {
    guard let call = pending else { return }
    while pending != nil {
      // Past the deadline, a grace of 250 ms for the worker thread to be scheduled: the verdict
      // uses the call's own return time, so a late wake-up does not fail a call that did not block.
      let deadline = call.end + call.tolerance
      let left = deadline + 250_000 - now
      if left <= 0, pendingOutcome == nil {
        throw fail(
          call.event,
          "\(call.call.name) did not return by \(seconds(deadline)) s: it blocked (a call expected to block needs a time range, start...end)")
      }
      try pump(timeoutMicroseconds: max(left, 0))
    }
  }

  mutating func checkPendingIfDone() throws(Stop) {
    guard let call = pending, let (outcome, finished) = pendingOutcome else { return }
    pending = nil
    pendingOutcome = nil
    let expected = call.call
    let resultText = outcome.errno.map { "-1 \(ScriptConstants.errnoName($0))" } ?? String(outcome.value)
    record(.call, "\(expected.name)(...) = \(resultText)", line: call.event.location.line)
    if call.prepared.returnsDescriptor, outcome.errno == nil {
      liveDescriptors.insert(Int32(truncatingIfNeeded: outcome.value))
    }
    if expected.name == "listen", outcome.errno == nil { listenerUnderTest = true }
    if ["bind", "connect", "sendto", "sendmsg", "write", "send"].contains(expected.name) {
      noteUDPSocket(expected)
      executor.udpRemotePort = udp.remotePort
    }
    // The port a connecting socket took, once its call returned (see `noteActiveOpen`).
    if let fd = activeOpenDescriptor, let number = expected.arguments.first, (try? executor.descriptor(number)) == fd,
      case .success(let name) = ScriptSockets.socketName(fd, peer: false), name.port != 0
    {
      activeOpenPort = name.port
      otherSYNPorts.remove(name.port)
    }
    if expected.name == "close", outcome.errno == nil, let fd = try? executor.descriptor(expected.arguments.first ?? .ellipsis) {
      liveDescriptors.remove(fd)
    }
    // The result.
    switch expected.result {
    case .ellipsis: break
    default:
      let want: Int64
      do throws(ScriptRunError) {
        want = try executor.integer(expected.result, "the result")
      } catch {
        throw fail(call.event, error.message)
      }
      if want == -1 {
        guard let errno = outcome.errno else {
          throw fail(call.event, "\(expected.name) returned \(outcome.value), expected -1 \(expected.errnoName ?? "")")
        }
        if let name = expected.errnoName, ScriptConstants.errnos[name] != errno {
          throw fail(call.event, "\(expected.name) failed with \(ScriptConstants.errnoName(errno)), expected \(name)")
        }
      } else if let errno = outcome.errno {
        throw fail(call.event, "\(expected.name) failed with -1 \(ScriptConstants.errnoName(errno)), expected \(want)")
      } else if call.prepared.returnsDescriptor {
        executor.descriptors[want] = Int32(truncatingIfNeeded: outcome.value)
        openedDescriptors.removeAll { $0 == want }
        openedDescriptors.append(want)
      } else if Int64(outcome.value) != want {
        throw fail(call.event, "\(expected.name) returned \(outcome.value), expected \(want)")
      }
    }
    // A sockaddr the script wrote for the returned address.
    if let written = call.prepared.expectedAddress, outcome.errno == nil, let live = outcome.address {
      let problem: String?
      do throws(ScriptRunError) {
        problem = try executor.sockaddrMismatch(written, live: live)
      } catch {
        throw fail(call.event, "\(expected.name): \(error.message)")
      }
      if let problem { throw fail(call.event, "\(expected.name): \(problem)") }
    }
    // pipe([R, W]): the script's numbers name the two live ends from now on.
    if call.call.name == "pipe", outcome.errno == nil, case .list(let ends) = call.call.arguments.first, ends.count == 2 {
      for (index, end) in ends.enumerated() {
        if let live = outcome.outputs["pipe fd \(index)"], let number = try? executor.integer(end, "a pipe fd") {
          executor.descriptors[number] = Int32(truncatingIfNeeded: live)
        }
        if let live = outcome.outputs["pipe fd \(index)"] { liveDescriptors.insert(Int32(truncatingIfNeeded: live)) }
      }
    }
    for (name, want) in call.prepared.expectedOutputs.sorted(by: { $0.key < $1.key }) {
      guard outcome.errno == nil else { break }
      let have = outcome.outputs[name]
      // 32-bit fields: 4294967295 and -1 are the same bits (`[4294967295]` for an unsigned option).
      let sameBits = have.map { UInt32(truncatingIfNeeded: $0) == UInt32(truncatingIfNeeded: want) && want >= Int64(Int32.min) && want <= Int64(UInt32.max) } ?? false
      // A kernel timestamp (script time): within the tolerance, as packetdrill checks it.
      if name.hasSuffix("scm_time"), let have, abs(have - want) <= tolerance { continue }
      if have != want, !sameBits {
        throw fail(call.event, "\(expected.name): \(name) is \(have.map(String.init) ?? "absent"), expected \(want)")
      }
    }
    // The time it returned.
    if call.event.time.kind != .any {
      if !ScriptTiming.isOnTime(finished, start: call.start, end: call.end, tolerance: call.tolerance) {
        throw fail(
          call.event,
          "timing error: \(expected.name) returned at \(seconds(finished)) s, expected \(seconds(call.start))\(call.end != call.start ? "...\(seconds(call.end))" : "") s (tolerance \(seconds(call.tolerance)) s)",
          timeError: finished - call.end)
      }
    }
  }

  // MARK: - Commands

  /// What backtick commands see: PATH, and PACKETDRILL_PID as packetdrill sets it (the corpus's
  /// set_sysctls.py names its restore file after it).
  var environment: [String] {
    ["PATH=\(options.path)", "LC_ALL=C", "PACKETDRILL_PID=\(options.processIdentifier)"]
  }

  mutating func runCommand(_ command: String, event: ScriptEvent) throws(Stop) {
    let before = clock.now
    let outcome: ScriptShell.Outcome
    do throws(SocketError) {
      outcome = try ScriptShell.shell(
        command, directory: commandDirectory, environment: environment, timeoutMilliseconds: 30_000)
    } catch {
      throw fail(event, "cannot run the command: \(error)")
    }
    let spent = clock.now - before
    start = start + spent  // commands take no script time
    let wallEnd = ScriptSockets.realtimeMicroseconds()
    executor.realtimePauses.append((wallEnd - spent.nanoseconds / 1000, wallEnd))
    record(.command, "`\(command.scriptTrimmed)` exit \(outcome.status)", line: event.location.line)
    if outcome.timedOut { throw fail(event, "command still running after 30 s: killed") }
    if outcome.status != 0 {
      let output = outcome.output.scriptTrimmed
      throw fail(event, "command failed with status \(outcome.status)\(output.isEmpty ? "" : ": " + output)")
    }
  }

  mutating func runPython(_ code: String, event: ScriptEvent) throws(Stop) {
    guard let python = options.python else {
      throw Stop(status: .notRun, reason: "a %{ }% block needs python3, which was not found")
    }
    var prelude = ""
    // The last TCP socket the script opened (an epoll descriptor or a pipe opened after it does
    // not count: TCP_INFO fails on them), by when it was opened: socket 4 opened after socket 5
    // is the one a block after it is about.
    let latestFirst = openedDescriptors.reversed() + executor.descriptors.keys.sorted().reversed()
    for number in latestFirst {
      guard let fd = executor.descriptors[number] else { continue }
      if case .success(let bytes) = ScriptSockets.getsockopt(fd, level: 6, name: 11, capacity: 256) {
        prelude = TCPInfo.pythonAssignments(bytes)
        break
      }
    }
    // As packetdrill does: the TCP_INFO snapshot is taken now, the python runs after the last
    // event, so that the interpreter's start-up (tens of ms) never delays the timeline (a pause
    // there lets the kernel's timers, a tail loss probe say, fire where the script expects none).
    deferredPython.append((event, python, prelude + dedent(code)))
    record(.command, "%{ python }% tcp_info taken (runs after the last event)", line: event.location.line)
  }

  /// Runs the python blocks deferred by `runPython`, in order; the first failing one fails the script.
  mutating func runDeferredPython() throws(Stop) {
    let blocks = deferredPython
    deferredPython = []
    for (event, python, program) in blocks {
      let outcome: ScriptShell.Outcome
      do throws(SocketError) {
        outcome = try ScriptShell.shell(
          "exec \(python) -c " + shellQuote(program), directory: commandDirectory,
          environment: environment, timeoutMilliseconds: 30_000)
      } catch {
        throw fail(event, "cannot run python3: \(error)")
      }
      record(.command, "%{ python }% exit \(outcome.status)", line: event.location.line)
      if outcome.status != 0 {
        throw fail(event, "python block failed: \(outcome.output.scriptTrimmed)")
      }
    }
  }

  func dedent(_ code: String) -> String {
    let lines = code.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let indents = lines.filter { !$0.scriptTrimmed.isEmpty }.map { $0.prefix { $0 == " " || $0 == "\t" }.count }
    let cut = indents.min() ?? 0
    return lines.map { $0.count >= cut ? String($0.dropFirst(cut)) : $0 }.joined(separator: "\n") + "\n"
  }

  func shellQuote(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
  }
}

extension String {
  var scriptTrimmed: String {
    var view = Substring(self)
    while let first = view.first, first == " " || first == "\t" || first == "\n" || first == "\r" { view.removeFirst() }
    while let last = view.last, last == " " || last == "\t" || last == "\n" || last == "\r" { view.removeLast() }
    return String(view)
  }
}

/// packetdrill's timing rule: an event may happen up to the tolerance before its script time (or
/// range start) and up to the tolerance after it (or the range end). The tolerance is the larger of
/// a fixed number of microseconds and a percentage of the gap since the previous event.
public enum ScriptTiming {
  public static func tolerance(microseconds: Int64, percent: Double, gap: Int64) -> Int64 {
    max(microseconds, Int64(percent / 100 * Double(max(0, gap))))
  }

  public static func isOnTime(_ actual: Int64, start: Int64, end: Int64, tolerance: Int64) -> Bool {
    actual >= start - tolerance && actual <= max(start, end) + tolerance
  }
}
