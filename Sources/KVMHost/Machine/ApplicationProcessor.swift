import Foundation

/// A vCPU other than the boot CPU, run on a thread of its own. KVM keeps it
/// inside KVM_RUN until the kernel starts it (INIT-SIPI-SIPI through the
/// in-kernel LAPIC). Each exit it takes goes to the machine's thread, and
/// the vCPU waits outside KVM_RUN until that thread has handled it and
/// resumes it: devices, records and verdicts stay on one thread, as for
/// the boot CPU, and an exit that stops the machine holds its vCPU where it was.
final class ApplicationProcessor: @unchecked Sendable {  // its state is under `condition`
    let vcpu: VCPU
    /// The CPU's index: its APIC ID, and its place in the MADT.
    var index: Int { vcpu.id }
    private let condition = NSCondition()
    /// An exit taken and not yet handed to the machine's thread.
    private var exit: Result<VCPUExit, any Error>?
    /// The machine's thread holds an exit it took from here.
    private var held = false
    private var finished = false
    /// Pauses asked for and not yet ended (`pause` and `unpause` nest: a
    /// failure's pause outlasts a debugger's), and whether the vCPU is out.
    private var pauses = 0
    private var paused = false
    /// Tells the machine's thread an exit waits (a kick of the boot CPU).
    private let notify: @Sendable () -> Void

    init(vcpu: VCPU, notify: @escaping @Sendable () -> Void) {
        self.vcpu = vcpu
        self.notify = notify
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "vCPU \(index)"
        thread.start()
    }

    private func loop() {
        while true {
            let result = Result { try vcpu.run() }
            if case .success(.interrupted) = result {
                // A stop ends the thread; a pause waits out of the guest
                // until resumed; a kick alone enters the guest again.
                if vcpu.stopHandle.isRequested { break }
                condition.lock()
                waitWhilePaused()
                condition.unlock()
                continue
            }
            condition.lock()
            exit = result
            held = true
            condition.unlock()
            notify()
            condition.lock()
            while held && !vcpu.stopHandle.isRequested { condition.wait() }
            // Resumed while paused (a restore dropped its exit): out until unpaused.
            waitWhilePaused()
            condition.unlock()
            if vcpu.stopHandle.isRequested { break }
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Under `condition`: waits out of the guest while a pause lasts.
    private func waitWhilePaused() {
        guard pauses > 0 else { return }
        paused = true
        condition.broadcast()
        while pauses > 0 && !vcpu.stopHandle.isRequested { condition.wait() }
        paused = false
    }

    /// The exit this vCPU waits with, once: the machine's thread handles it,
    /// then calls `resume`.
    func takeExit() -> Result<VCPUExit, any Error>? {
        condition.lock()
        defer { condition.unlock() }
        defer { exit = nil }
        return exit
    }

    /// Whether an exit waits to be taken.
    var hasExit: Bool {
        condition.lock()
        defer { condition.unlock() }
        return exit != nil
    }

    /// The exit taken was handled: the vCPU enters the guest again (an
    /// `in`'s value is in place).
    func resume() {
        condition.lock()
        held = false
        condition.broadcast()
        condition.unlock()
    }

    /// Takes the vCPU out of KVM_RUN and keeps it out until `unpause`, so
    /// that its registers can be read; returns once it is out (or holds an
    /// exit, or its thread has ended). A kick can be lost while the thread
    /// enters or leaves KVM_RUN: it is sent again every millisecond.
    func pause() {
        condition.lock()
        defer { condition.unlock() }
        pauses += 1
        while !paused && !held && !finished {
            vcpu.stopHandle.kick()
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.001))
        }
    }

    /// Ends one `pause`: the vCPU goes on once none is left.
    func unpause() {
        condition.lock()
        pauses = max(0, pauses - 1)
        condition.broadcast()
        condition.unlock()
    }

    /// Forgets an exit not yet taken (a restore put the vCPU elsewhere, so
    /// the exit is of a state that is gone); the vCPU stays out while paused.
    func discardExit() {
        condition.lock()
        if exit != nil {
            exit = nil
            held = false
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Ends the thread: KVM_RUN returns, and the thread waits no more.
    func stop() {
        vcpu.stopHandle.requestStop()
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for the thread to end (after `stop`).
    func join() {
        condition.lock()
        while !finished { condition.wait() }
        condition.unlock()
    }
}

/// What a vCPU's thread calls when it has an exit for the machine's thread
/// (a wake of a wait for console input); set from the machine's thread.
final class ExitNotice: @unchecked Sendable {  // `action` is under `lock`
    private let lock = NSLock()
    private var action: (@Sendable () -> Void)?

    func set(_ action: (@Sendable () -> Void)?) { lock.withLock { self.action = action } }

    func post() { lock.withLock { action }?() }
}
