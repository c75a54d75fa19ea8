# Read by ctest after the gtest binaries' discovered tests (TEST_INCLUDE_FILES, tests/CMakeLists.txt).
# A fresh clone has no Testing/Temporary/CTestCostData.txt, so `ctest -j2` starts tests in number
# order, and the longest ones started last and ran alone at the end (in CI:
# CudaEngine.MatchesCpuAtBenchmarkChainCounts_cuda, 92 s of a 274 s cuda-emu suite). A COST starts them
# first, beside the others. The numbers are seconds measured in CI on 2 cores; only their order
# matters. ctest ignores names a build lacks; a parameterized test's name includes its
# "  # GetParam() = ..." suffix. python/CMakeLists.txt gives its two tests their COST itself.
foreach(pair
    "CudaEngine.MatchesCpuAtBenchmarkChainCounts_cuda=92"
    "DbmMnist.SmallModelLearnsWellAboveChance=43"
    "DtmModel.BeatsMebmAtEqualTotalSweeps=16"
    # The CLI tests that train and continue runs, near the end in number order: under ASan they ran
    # last, 20-54 s each (CI, 2026-12-01), and the suite waited for them.
    "Resume.CheckpointsOfAnEarlierPbitStillContinue=27"
    "FullDisk.DtmTrainKeepsTheGoodFiles=21"
    "Resume.WithoutACheckpointStartsAfreshAndAFreshRunKeepsTheOld=14"
    "Resume.ALeaseLeavesARunsFolderAlone=12"
    "Resume.CheckSaysWhereARunStandsAndWritesNothing=11"
    # Trains 12 epochs with 128 probe chains since 2026-12-02 (1.7 s in the release suite on 2 cores;
    # not yet timed under ASan, where it still runs): a guess.
    "DtmModel.TemperingMixesTheMebmFaster=10")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 cost)
  set_tests_properties("${name}" PROPERTIES COST ${cost})
endforeach()
