#include "core/tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "core/tokenizer/utf8.h"

namespace zp::tok {
namespace {

uint64_t pair_key(int32_t a, int32_t b)
{
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Words longer than this are not cached: they are rare (whitespace runs, or a whole text when the
// model has no pre-tokenizer) and would only evict the short words that repeat.
constexpr size_t max_cached_word = 64;
constexpr size_t max_cache_entries = 1 << 18;

}  // namespace

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> piece_to_id,
                   const std::vector<BpeMerge>& merges, BpeOptions options)
    : piece_to_id_(std::move(piece_to_id)), options_(options)
{
    ranks_.reserve(merges.size() * 2);
    for (size_t r = 0; r < merges.size(); ++r)
        ranks_.emplace(
            pair_key(merges[r].left, merges[r].right),
            Rank{static_cast<int32_t>(r), merges[r].merged});  // first rank wins on duplicates
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_ids_[b] = find(name);
    }
}

int32_t BpeModel::find(std::string_view piece) const
{
    const auto it = piece_to_id_.find(std::string(piece));
    return it == piece_to_id_.end() ? -1 : it->second;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const
{
    if (word.empty())
        return;
    const bool cacheable = word.size() <= max_cached_word;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        const auto it = cache_.find(std::string(word));
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> ids;
    merge_word(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (cache_.size() >= max_cache_entries)
            cache_.clear();
        cache_.emplace(std::string(word), std::move(ids));
    }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const
{
    if (options_.ignore_merges) {
        const int32_t whole = find(word);
        if (whole >= 0) {
            out.push_back(whole);
            return;
        }
    }

    // Initial symbols: one per character, or its byte pieces / unk where it is not in the
    // vocabulary.
    std::vector<int32_t> id;
    id.reserve(word.size());
    bool last_unk = false;
    for (std::string_view ch : utf8::chars(word)) {
        const int32_t c = find(ch);
        if (c >= 0) {
            id.push_back(c);
            last_unk = false;
            continue;
        }
        if (options_.byte_fallback) {
            bool all = true;
            for (unsigned char b : ch)
                all = all && byte_ids_[b] >= 0;
            if (all) {
                for (unsigned char b : ch)
                    id.push_back(byte_ids_[b]);
                last_unk = false;
                continue;
            }
        }
        if (options_.unk_id >= 0) {
            if (!(options_.fuse_unk && last_unk))
                id.push_back(options_.unk_id);
            last_unk = true;
        }
    }
    const int n = static_cast<int>(id.size());
    if (n < 2) {
        out.insert(out.end(), id.begin(), id.end());
        return;
    }

    // Merge loop: a priority queue of candidate pairs over a linked list of symbols. A rescan of
    // all pairs per merge would be O(n^2) in the word length, and words can be long here (a model
    // without a pre-tokenizer, like Llama-2's tokenizer.json, sees a whole paragraph as one
    // word); the queue keeps it O(n log n). Ties in rank go to the leftmost pair, as in
    // Hugging Face tokenizers. Stale entries are detected by the ids they recorded: a symbol's id
    // only ever changes to a longer piece, so a recorded (left, right) pair that still matches is
    // still current.
    std::vector<int> prev(n), next(n);
    for (int i = 0; i < n; ++i) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    std::vector<char> alive(n, 1);
    struct Cand {
        int32_t rank;
        int pos;
        int32_t left, right, merged;
        bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
    auto push = [&](int pos) {
        if (pos < 0 || next[pos] < 0)
            return;
        const auto it = ranks_.find(pair_key(id[pos], id[next[pos]]));
        if (it != ranks_.end())
            queue.push(Cand{it->second.rank, pos, id[pos], id[next[pos]], it->second.merged});
    };
    for (int i = 0; i + 1 < n; ++i)
        push(i);
    while (!queue.empty()) {
        const Cand c = queue.top();
        queue.pop();
        if (!alive[c.pos] || next[c.pos] < 0 || id[c.pos] != c.left || id[next[c.pos]] != c.right)
            continue;
        const int r = next[c.pos];
        id[c.pos] = c.merged;
        alive[r] = 0;
        next[c.pos] = next[r];
        if (next[r] >= 0)
            prev[next[r]] = c.pos;
        push(prev[c.pos]);
        push(c.pos);
    }
    for (int i = 0; i >= 0; i = next[i])
        out.push_back(id[i]);
}

}  // namespace zp::tok
