// pbit's checksummed binary files (util/file_io.hpp: write_checksummed, read_checksummed): each
// kind's 8-byte magic, whose last byte is its version, and what a person calls it. One table, read
// by the writers and readers of each kind and by read_checksummed, which names a file given in
// another kind's place for what it is.
#pragma once

namespace pbit::detail {

struct FileFormat {
  char magic[8];
  const char* what;  ///< "a DBM training checkpoint (checkpoint.bin of 'pbit dbm train')"
};

// DBM: 2: training time; 3: centering offsets; 4: the counters at the start of the current epoch;
// 5: checksummed (the payload's length and CRC-32 after the magic). From 2026-12-07 each training
// sampler's count is era << 32 | sweeps (rng::dbm_training_stream); an older file's reads as era 0.
// 6: the same layout, written only when a sampler is past era 0, so that a pbit from before eras
// refuses it as another version's rather than as corrupt ("impossible sweep count"); read as 5 is.
inline constexpr FileFormat kDbmCheckpoint{{'P', 'B', 'I', 'T', 'C', 'K', 'P', '5'},
                                           "a DBM training checkpoint (checkpoint.bin of 'pbit dbm train')"};
inline constexpr FileFormat kDbmCheckpointEras{{'P', 'B', 'I', 'T', 'C', 'K', 'P', '6'}, kDbmCheckpoint.what};
// DBM model-only checkpoints (leases): 1: first version; 2: checksummed; 3: as 2, written only when
// a sampler is past era 0 (as the training checkpoint's 6).
inline constexpr FileFormat kDbmModelCheckpoint{{'P', 'B', 'I', 'T', 'D', 'M', 'L', '2'},
                                                "a DBM model-only checkpoint (model_checkpoint.bin of 'pbit dbm train --lease')"};
inline constexpr FileFormat kDbmModelCheckpointEras{{'P', 'B', 'I', 'T', 'D', 'M', 'L', '3'}, kDbmModelCheckpoint.what};
// DTM: 1: first version; 2: the history keeps each epoch's feature-FID; 3: checksummed.
inline constexpr FileFormat kDtmCheckpoint{{'P', 'B', 'I', 'T', 'D', 'T', 'M', '3'},
                                           "a DTM training checkpoint (checkpoint.bin of 'pbit dtm train')"};
// DTM model-only checkpoints (leases): 2: checksummed.
inline constexpr FileFormat kDtmModelCheckpoint{{'P', 'B', 'I', 'T', 'T', 'M', 'L', '2'},
                                                "a DTM model-only checkpoint (model_checkpoint.bin of 'pbit dtm train --lease')"};
// EqProp models: 1; from 2026-12-07 an optional record of the training's free phase and field clip
// follows the network (a JSON string, EqPropNet::trained_with), which an older reader leaves unread.
inline constexpr FileFormat kEqPropModel{{'P', 'B', 'I', 'T', 'E', 'Q', 'M', '1'}, "an EqProp model (model.bin of 'pbit eqprop train')"};
inline constexpr FileFormat kEqPropCheckpoint{{'P', 'B', 'I', 'T', 'E', 'Q', 'C', '1'},
                                              "an EqProp training checkpoint (checkpoint.bin of 'pbit eqprop train')"};
inline constexpr FileFormat kPdnnModel{{'P', 'B', 'I', 'T', 'P', 'D', 'M', '1'}, "a p-DNN classifier (model.bin of 'pbit pdnn train')"};
inline constexpr FileFormat kPdnnCheckpoint{{'P', 'B', 'I', 'T', 'P', 'D', 'C', '1'},
                                            "a p-DNN classifier's training checkpoint (checkpoint.bin of 'pbit pdnn train')"};
inline constexpr FileFormat kPdnnGenerator{{'P', 'B', 'I', 'T', 'P', 'D', 'V', '1'},
                                           "a p-DNN generator (model.bin of 'pbit pdnn train' with a generator section)"};
inline constexpr FileFormat kPdnnGeneratorCheckpoint{
    {'P', 'B', 'I', 'T', 'P', 'D', 'W', '1'},
    "a p-DNN generator's training checkpoint (checkpoint.bin of 'pbit pdnn train' with a generator section)"};
// The feature network of the DTM's FID (out/cache/): 2: checksummed.
inline constexpr FileFormat kFeatureNet{{'P', 'B', 'I', 'T', 'F', 'N', 'T', '2'}, "a feature network (pbit's cache, out/cache/)"};

inline constexpr const FileFormat* kFileFormats[] = {&kDbmCheckpoint, &kDbmModelCheckpoint, &kDtmCheckpoint, &kDtmModelCheckpoint,
                                                     &kEqPropModel,   &kEqPropCheckpoint,   &kPdnnModel,     &kPdnnCheckpoint,
                                                     &kPdnnGenerator, &kPdnnGeneratorCheckpoint, &kFeatureNet};

}  // namespace pbit::detail
