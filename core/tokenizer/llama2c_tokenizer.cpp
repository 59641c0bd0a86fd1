// llama2.c tokenizer.bin: the encode/decode rules of llama2.c's run.c, reimplemented.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <queue>
#include <unordered_map>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::tok {

namespace {

constexpr int32_t kBos = 1;
constexpr int32_t kEos = 2;
constexpr int32_t kByteBase = 3;  // <0x00> is id 3: byte-fallback id = byte + 3

class Llama2cTokenizer final : public Tokenizer {
public:
    Llama2cTokenizer(std::vector<std::string> pieces, std::vector<float> scores)
        : pieces_(std::move(pieces)), scores_(std::move(scores))
    {
        // Later duplicates do not shadow earlier ids (run.c's bsearch finds one of them; the
        // first is the natural choice and what every shipped tokenizer.bin needs).
        for (size_t i = 0; i < pieces_.size(); ++i)
            index_.emplace(pieces_[i], static_cast<int32_t>(i));
    }

    std::vector<int32_t> encode(const std::string& text, bool add_bos) const override;
    std::string decode(const std::vector<int32_t>& ids) const override;
    std::string decode_piece(int32_t prev, int32_t id) const override;

    int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
    int32_t bos_id() const override { return kBos < vocab_size() ? kBos : -1; }
    int32_t eos_id() const override { return kEos < vocab_size() ? kEos : -1; }
    std::string piece(int32_t id) const override
    {
        return id >= 0 && id < vocab_size() ? pieces_[static_cast<size_t>(id)] : std::string();
    }

private:
    int32_t lookup(const std::string& s) const
    {
        auto it = index_.find(s);
        return it == index_.end() ? -1 : it->second;
    }

    // The id of a raw byte, or -1 when the vocabulary has no byte tokens that far.
    int32_t byte_id(unsigned char b) const
    {
        const int32_t id = kByteBase + b;
        return id < vocab_size() ? id : -1;
    }

    void push_bytes(const std::string& s, std::vector<int32_t>& out) const
    {
        for (unsigned char b : s) {
            const int32_t id = byte_id(b);
            out.push_back(id >= 0 ? id : 0);  // no byte tokens: <unk>
        }
    }

    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::unordered_map<std::string, int32_t> index_;
};

std::vector<int32_t> Llama2cTokenizer::encode(const std::string& text, bool add_bos) const
{
    std::vector<int32_t> ids;
    if (add_bos && bos_id() >= 0)
        ids.push_back(kBos);
    if (text.empty())
        return ids;
    // Merges never involve BOS: they start at the dummy prefix.
    const size_t first = ids.size();
    // SentencePiece's dummy prefix: the text is encoded as if it started with a space.
    const int32_t space = lookup(" ");
    if (space >= 0)
        ids.push_back(space);
    else
        push_bytes(" ", ids);

    // Code points (a lead byte plus its continuation bytes, at most 4) are looked up whole;
    // those missing from the vocabulary fall back to their bytes.
    for (size_t i = 0; i < text.size();) {
        size_t j = i + 1;
        while (j < text.size() && j - i < 4 && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80)
            ++j;
        const std::string cp = text.substr(i, j - i);
        const int32_t id = lookup(cp);
        if (id >= 0)
            ids.push_back(id);
        else
            push_bytes(cp, ids);
        i = j;
    }

    // run.c merges, again and again, the adjacent pair whose concatenation is in the vocabulary
    // with the best score (the leftmost among equals) -- quadratic in the text length. A heap of
    // candidate pairs over a linked list of symbols makes the same choices in O(n log n), so that
    // a whole evaluation corpus can be tokenized at once.
    struct Symbol {
        int32_t id;
        int64_t prev, next;  // -1 at the ends
    };
    struct Candidate {
        float score;
        int64_t left;  // symbol index; leftmost wins ties, as in run.c's strict '>' scan
        int32_t left_id, right_id, merged;
        bool operator<(const Candidate& o) const
        {
            return score != o.score ? score < o.score : left > o.left;
        }
    };
    const int64_t n = static_cast<int64_t>(ids.size() - first);
    std::vector<Symbol> sym(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        sym[static_cast<size_t>(i)] = {ids[first + static_cast<size_t>(i)], i - 1,
                                       i + 1 < n ? i + 1 : -1};
    std::priority_queue<Candidate> heap;
    std::string buf;
    auto consider = [&](int64_t left) {
        if (left < 0)
            return;
        const Symbol& a = sym[static_cast<size_t>(left)];
        if (a.next < 0)
            return;
        const Symbol& b = sym[static_cast<size_t>(a.next)];
        buf = pieces_[static_cast<size_t>(a.id)];
        buf += pieces_[static_cast<size_t>(b.id)];
        const int32_t id = lookup(buf);
        if (id >= 0)
            heap.push({scores_[static_cast<size_t>(id)], left, a.id, b.id, id});
    };
    for (int64_t i = 0; i + 1 < n; ++i)
        consider(i);
    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol& a = sym[static_cast<size_t>(c.left)];
        // Stale entries (a side merged away since) no longer describe the current pair.
        if (a.id != c.left_id || a.next < 0 || sym[static_cast<size_t>(a.next)].id != c.right_id)
            continue;
        const int64_t right = a.next;
        a.id = c.merged;
        a.next = sym[static_cast<size_t>(right)].next;
        if (a.next >= 0)
            sym[static_cast<size_t>(a.next)].prev = c.left;
        sym[static_cast<size_t>(right)].id = -1;  // dead
        consider(a.prev);
        consider(c.left);
    }
    ids.resize(first);
    for (int64_t i = n > 0 ? 0 : -1; i >= 0; i = sym[static_cast<size_t>(i)].next)
        ids.push_back(sym[static_cast<size_t>(i)].id);
    return ids;
}

std::string Llama2cTokenizer::decode_piece(int32_t prev, int32_t id) const
{
    if (id < 0 || id >= vocab_size())
        return {};
    const std::string& p = pieces_[static_cast<size_t>(id)];
    size_t start = 0;
    if (prev == kBos && !p.empty() && p[0] == ' ')
        start = 1;  // the dummy-prefix space of the first word is not text
    unsigned int byte = 0;
    char tail = 0;
    if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%02X>%c", &byte, &tail) == 1)
        return std::string(1, static_cast<char>(byte));
    return p.substr(start);
}

std::string Llama2cTokenizer::decode(const std::vector<int32_t>& ids) const
{
    std::string out;
    // Text that does not start with BOS still starts with the dummy prefix; strip it the same way.
    int32_t prev = kBos;
    for (int32_t id : ids) {
        if (id == kBos || id == kEos) {
            prev = id;
            continue;
        }
        out += decode_piece(prev, id);
        prev = id;
    }
    return out;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& path, int32_t vocab_size)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path + ": cannot open");
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    in.seekg(0);
    auto fail = [&](const std::string& what) { throw FormatError(path + ": " + what); };
    int32_t max_len = 0;
    if (size < 4 || !in.read(reinterpret_cast<char*>(&max_len), 4))
        fail("truncated: no max_token_length (file has " + std::to_string(size) + " bytes)");
    if (max_len <= 0 || max_len > (1 << 20))
        fail("max_token_length = " + std::to_string(max_len) + " is not plausible");

    // vocab_size <= 0: the caller does not know it (no model header), so read to the end.
    const bool until_eof = vocab_size <= 0;
    std::vector<std::string> pieces;
    std::vector<float> scores;
    for (int32_t i = 0; until_eof || i < vocab_size; ++i) {
        if (until_eof && in.tellg() == size)
            break;
        float score = 0.0f;
        int32_t len = 0;
        if (!in.read(reinterpret_cast<char*>(&score), 4) ||
            !in.read(reinterpret_cast<char*>(&len), 4))
            fail("truncated at token " + std::to_string(i) + " of " +
                 (until_eof ? std::string("?") : std::to_string(vocab_size)) + ": no score/length");
        if (len < 0 || len > max_len)
            fail("token " + std::to_string(i) + " has length " + std::to_string(len) +
                 " outside 0..max_token_length " + std::to_string(max_len));
        std::string s(static_cast<size_t>(len), '\0');
        if (len > 0 && !in.read(s.data(), len))
            fail("truncated at token " + std::to_string(i) + ": its " + std::to_string(len) +
                 " bytes run past the end of the file");
        pieces.push_back(std::move(s));
        scores.push_back(score);
    }
    if (pieces.size() < 3)
        fail("holds " + std::to_string(pieces.size()) +
             " tokens; a llama2.c vocabulary needs at least <unk>, BOS and EOS");
    return std::make_unique<Llama2cTokenizer>(std::move(pieces), std::move(scores));
}

}  // namespace zp::tok
