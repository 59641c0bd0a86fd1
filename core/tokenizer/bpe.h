// Byte-pair-encoding merge engine shared by the tokenizer.json models (internal).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace zp::tok {

struct BpeMerge {
    int32_t left = -1;
    int32_t right = -1;
    int32_t merged = -1;
};

struct BpeOptions {
    int32_t unk_id = -1;         // id for characters outside the vocabulary; -1 drops them
    bool fuse_unk = false;       // consecutive unknown characters give one unk id
    bool byte_fallback = false;  // unknown characters become their <0xXX> byte pieces
    bool ignore_merges = false;  // a word that is itself in the vocabulary is emitted whole
};

class BpeModel {
public:
    // piece_to_id: the vocabulary; merges in rank order (index = rank, lower merges first).
    BpeModel(std::unordered_map<std::string, int32_t> piece_to_id,
             const std::vector<BpeMerge>& merges, BpeOptions options);

    // Appends the ids of one pre-tokenized word. Thread-safe (the word cache is locked).
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

    // Id of a piece, or -1.
    int32_t find(std::string_view piece) const;

private:
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;

    std::unordered_map<std::string, int32_t> piece_to_id_;
    struct Rank {
        int32_t rank;
        int32_t merged;
    };
    std::unordered_map<uint64_t, Rank> ranks_;
    BpeOptions options_;
    int32_t byte_ids_[256];

    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace zp::tok
