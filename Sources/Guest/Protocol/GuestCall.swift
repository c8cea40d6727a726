// What the host can ask of the guest kernel: one type per call, holding its
// arguments and naming its reply. The host sends `guest.call(X(...))` and gets
// an `X.Reply`; the kernel decodes X, runs `X.perform()` and encodes its
// result. Adding a call means: a case in `CallCode`, its type (in Calls/),
// its line in `CallCode.visit`, and its `perform` in the kernel. The compiler
// checks all four: `visit` switches over every code, and the kernel does not
// build while a call lacks `perform`.

public protocol GuestCall: Wire {
    associatedtype Reply: Wire
    static var code: CallCode { get }
#if GUEST_KERNEL
    /// The kernel's side of the call: typed arguments in, a typed result out.
    func perform() throws(CallError) -> Reply
#endif
}

/// Every call's code on the wire: the command record's first word. The
/// codes run 1, 2, 3, ... in declaration order, so that reading one is a
/// range check, not a chain of comparisons: in the guest, where ring 0 is
/// emulated, every instruction of the dispatch costs about a microsecond.
public enum CallCode: UInt64, CaseIterable, Sendable {
    case echo = 1
    case raiseException = 2
    case spin = 3
    case assertEqual = 4
    case shutdown = 5
    case exerciseHeap = 6
    case readFrameStatistics = 7
    case allocateFrames = 8
    case freeFrame = 9
    case allocateContiguousFrames = 10
    case queryFrame = 11
    case exhaustFrames = 12
    case freeExhaustedFrames = 13
    case requireFrame = 14
    case mapPage = 15
    case unmapPage = 16
    case translate = 17
    case readPagemapCounts = 18
    case runAccessChecks = 19
    case reserveSpace = 20
    case freeSpace = 21
    case querySpace = 22
    case runPagemapBenchmark = 23
    case runMonitor = 24
    case listPrograms = 25
    case runProgram = 26
    case restartFrameSearch = 27
    case runUserAccessChecks = 28
    case reserveProgramBuffer = 29
    case runProgramImage = 30
    case runProgramSkippingFaults = 31
    case readMemory = 32
    case listGuestTests = 33
    case runGuestTest = 34
    case readCPU = 35
    case runHugeLeafChecks = 36
    case measureFrameSearch = 37
}

/// Something to do with a call's type, whichever call a code names.
public protocol CallVisitor {
    associatedtype Result
    mutating func visit<Call: GuestCall>(_ call: Call.Type) -> Result
}

extension CallCode {
    /// Hands `visitor` the type of the call this code names: the one map
    /// from codes to types, which the kernel's dispatcher and the host's
    /// fuzzing and tests all go through.
    public func visit<Visitor: CallVisitor>(_ visitor: inout Visitor) -> Visitor.Result {
        switch self {
        case .echo: visitor.visit(Echo.self)
        case .raiseException: visitor.visit(RaiseException.self)
        case .spin: visitor.visit(Spin.self)
        case .assertEqual: visitor.visit(AssertEqual.self)
        case .shutdown: visitor.visit(Shutdown.self)
        case .exerciseHeap: visitor.visit(ExerciseHeap.self)
        case .runMonitor: visitor.visit(RunMonitor.self)
        case .readFrameStatistics: visitor.visit(ReadFrameStatistics.self)
        case .allocateFrames: visitor.visit(AllocateFrames.self)
        case .freeFrame: visitor.visit(FreeFrame.self)
        case .allocateContiguousFrames: visitor.visit(AllocateContiguousFrames.self)
        case .queryFrame: visitor.visit(QueryFrame.self)
        case .exhaustFrames: visitor.visit(ExhaustFrames.self)
        case .freeExhaustedFrames: visitor.visit(FreeExhaustedFrames.self)
        case .measureFrameSearch: visitor.visit(MeasureFrameSearch.self)
        case .requireFrame: visitor.visit(RequireFrame.self)
        case .restartFrameSearch: visitor.visit(RestartFrameSearch.self)
        case .mapPage: visitor.visit(MapPage.self)
        case .unmapPage: visitor.visit(UnmapPage.self)
        case .translate: visitor.visit(Translate.self)
        case .readPagemapCounts: visitor.visit(ReadPagemapCounts.self)
        case .runAccessChecks: visitor.visit(RunAccessChecks.self)
        case .runUserAccessChecks: visitor.visit(RunUserAccessChecks.self)
        case .runHugeLeafChecks: visitor.visit(RunHugeLeafChecks.self)
        case .readMemory: visitor.visit(ReadMemory.self)
        case .runPagemapBenchmark: visitor.visit(RunPagemapBenchmark.self)
        case .reserveSpace: visitor.visit(ReserveSpace.self)
        case .freeSpace: visitor.visit(FreeSpace.self)
        case .querySpace: visitor.visit(QuerySpace.self)
        case .listPrograms: visitor.visit(ListPrograms.self)
        case .runProgram: visitor.visit(RunProgram.self)
        case .reserveProgramBuffer: visitor.visit(ReserveProgramBuffer.self)
        case .runProgramImage: visitor.visit(RunProgramImage.self)
        case .runProgramSkippingFaults: visitor.visit(RunProgramSkippingFaults.self)
        case .listGuestTests: visitor.visit(ListGuestTests.self)
        case .runGuestTest: visitor.visit(RunGuestTest.self)
        case .readCPU: visitor.visit(ReadCPU.self)
        }
    }
}

/// The reply record's status word: how the call went.
public enum CallStatus: UInt64, Sendable {
    /// The reply's words are the call's `Reply`.
    case ok = 0
    /// The kernel knows no call by this code. Words: the code.
    case unknownCall = 1
    /// The arguments were not the call's. Words: the `WireError`.
    case malformedArguments = 2
    /// The call ran and failed. Words: the `CallError`.
    case failed = 3
    /// The reply did not fit in one record.
    case replyTooLong = 4
}
