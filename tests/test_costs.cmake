# Read by ctest after the gtest binaries' discovered tests (TEST_INCLUDE_FILES, tests/CMakeLists.txt).
# A fresh clone has no Testing/Temporary/CTestCostData.txt, so `ctest -j2` starts tests in number
# order, and the longest ones started last and ran alone at the end (in CI:
# CudaEngine.MatchesCpuAtBenchmarkChainCounts_cuda, 92 s of a 274 s cuda-emu suite). A COST starts them
# first, beside the others. The numbers are seconds measured in CI on 2 cores; only their order
# matters. ctest ignores names a build lacks; a parameterized test's name includes its
# "  # GetParam() = ..." suffix. python/CMakeLists.txt gives its two tests their COST itself.
foreach(pair
    "CudaEngine.MatchesCpuAtBenchmarkChainCounts_cuda=92"
    # The longest tests under ASan (CI's slowest suite; this VM, 2026-12-02, after datasets read with a
    # limit stopped reading all of MNIST): mostly the CLI tests that train and continue runs, which
    # are late in number order and otherwise ran last, alone.
    "Cli.BadInputsGiveClearErrors=30"
    "Resume.ALeaseWhoseBurnInSpendsTheBudgetRecordsTheEnd=19"
    "Cli.PdnnTrainResumeEvalReportBench=18"
    "DtmModel.ClassConditionalGenerationWithLabelNodes=17"
    "Tempering.AdaptiveLadderEvensTheAcceptance=16"
    "DtmModel.TemperingMixesTheMebmFaster=14"
    "Resume.WithoutACheckpointStartsAfreshAndAFreshRunKeepsTheOld=13"
    "DbmMnist.ResumeIsBitIdentical=12"
    "FullDisk.DtmTrainKeepsTheGoodFiles=11"
    "Resume.CheckpointsOfAnEarlierPbitStillContinue=10"
    "Cli.EqPropTrainResumeEval=10"
    "Resume.ALeaseLeavesARunsFolderAlone=9"
    "HardwareLfsr.ANaiveRegisterBiasesTheChainAndAFreshOneDoesNot=9")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 cost)
  set_tests_properties("${name}" PROPERTIES COST ${cost})
endforeach()
