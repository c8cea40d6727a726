// Every in-kernel test case, by name: the one list. The host's
// GuestKernelTests has one XCTest method per line here, generated from this
// file at build time. `mechanism_` cases test the machinery itself (one
// fails on purpose) and are run by name from GuestTestMechanismTests.

enum GuestTestTable {
    static func cases() -> [GuestTestCase] {
        [
            GuestTestCase("mechanism_failingExpectation", MechanismCases.failingExpectation),
            GuestTestCase("mechanism_missingInvalidation", MechanismCases.missingInvalidation),
            GuestTestCase("mechanism_obligationsPastCapacity", MechanismCases.obligationsPastCapacity),
            GuestTestCase("mechanism_pageTableMappedAtUserAddress", MechanismCases.pageTableMappedAtUserAddress),
            GuestTestCase("mechanism_frameFreedWhileMapped", MechanismCases.frameFreedWhileMapped),
            GuestTestCase("framesAreHandedOutOnce", FrameCases.framesAreHandedOutOnce),
            GuestTestCase("contiguousRunsAreAlignedAndDisjoint", FrameCases.contiguousRunsAreAlignedAndDisjoint),
            GuestTestCase("refusedFreesChangeNothing", FrameCases.refusedFreesChangeNothing),
            GuestTestCase("reservedFramesAreNeverHandedOut", FrameCases.reservedFramesAreNeverHandedOut),
            GuestTestCase("freedFramesMustBeZeroedBeforeReuse", FrameCases.freedFramesMustBeZeroedBeforeReuse),
            GuestTestCase("translateAtEveryOffsetOfAPage", PagemapCases.translateAtEveryOffsetOfAPage),
            GuestTestCase("tablesAreBuiltPerLevelAsNeeded", PagemapCases.tablesAreBuiltPerLevelAsNeeded),
            GuestTestCase("tablesAreFreedExactlyWhenTheyEmpty", PagemapCases.tablesAreFreedExactlyWhenTheyEmpty),
            GuestTestCase("parentsWidenToGrantTheLeaf", PagemapCases.parentsWidenToGrantTheLeaf),
            GuestTestCase("aliasesOfOneFrameKeepTheirOwnFlags", PagemapCases.aliasesOfOneFrameKeepTheirOwnFlags),
            GuestTestCase("remappingNeedsAnUnmapFirst", PagemapCases.remappingNeedsAnUnmapFirst),
            GuestTestCase("unmapNamesTheLevelWhereTheWalkStopped", PagemapCases.unmapNamesTheLevelWhereTheWalkStopped),
            GuestTestCase("malformedAddressesAreRefused", PagemapCases.malformedAddressesAreRefused),
            GuestTestCase("lazyEntriesAreKnownButNotPresent", PagemapCases.lazyEntriesAreKnownButNotPresent),
            GuestTestCase("mapRangeCrossesTableBoundaries", PagemapCases.mapRangeCrossesTableBoundaries),
            GuestTestCase("translateAtEveryOffsetOfAHugePage", HugePageCases.translateAtEveryOffsetOfAHugePage),
            GuestTestCase("hugeAndSmallPagesShareAPageDirectory", HugePageCases.hugeAndSmallPagesShareAPageDirectory),
            GuestTestCase("aliasesSeeEachOthersWrites", LiveMappingCases.aliasesSeeEachOthersWrites),
            GuestTestCase("remappedPageShowsTheNewFrame", LiveMappingCases.remappedPageShowsTheNewFrame),
            GuestTestCase("readMemorySeesWhatALoadSees", LiveMappingCases.readMemorySeesWhatALoadSees),
            GuestTestCase("eagerBacksEveryPageLazyNone", MemorySpaceCases.eagerBacksEveryPageLazyNone),
            GuestTestCase("fallbackAfterTheMarkPassesTheEnd", MemorySpaceCases.fallbackAfterTheMarkPassesTheEnd),
            GuestTestCase("freeingTheTopLowersTheMark", MemorySpaceCases.freeingTheTopLowersTheMark),
            GuestTestCase("badReservationsAreRefused", MemorySpaceCases.badReservationsAreRefused),
            GuestTestCase("eagerOutOfFramesGivesEverythingBack", MemorySpaceCases.eagerOutOfFramesGivesEverythingBack),
            GuestTestCase("pageTrapDecidesEachReason", PageTrapCases.decidesEachReason),
            GuestTestCase("demandPagingConservesFrames", PageTrapCases.demandPagingConservesFrames),
            GuestTestCase("framesAreConservedAcrossAMixedWorkload", ConservationCases.framesAreConservedAcrossAMixedWorkload),
            GuestTestCase("spacesArePublishedWhileTheyLive", HostCheckTableCases.spacesArePublishedWhileTheyLive),
        ]
    }
}
