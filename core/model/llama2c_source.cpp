#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <map>

#include <ATen/ops/empty.h>

#include "core/common/error.h"
#include "core/model/model.h"
#include "core/model/weight_source.h"

namespace zp::model {

namespace {

struct Entry {
    uint64_t offset = 0;  // bytes from the start of the file
    std::vector<int64_t> shape;
    int64_t rope_heads = 0;  // > 0: rows are interleaved RoPE pairs of this many heads
};

class Llama2cSource final : public WeightSource {
public:
    explicit Llama2cSource(const std::string& path);
    ~Llama2cSource() override { release(); }

    const ModelConfig& config() const override { return config_; }
    const std::string& path() const override { return path_; }
    const std::string& format() const override { return format_; }
    bool has(const std::string& name) const override { return entries_.count(name) != 0; }
    std::vector<int64_t> shape(const std::string& name) const override { return entry(name).shape; }
    std::string file_of(const std::string&) const override { return path_; }
    at::Tensor load(const std::string& name) const override;

private:
    void open_and_index();
    // Unmaps and closes; also on a refused file, where the destructor of a half-made object
    // never runs (each refused file leaked a descriptor and a mapping: fuzz/llama2c_model ran out
    // of descriptors).
    void release()
    {
        if (map_ != MAP_FAILED)
            ::munmap(map_, size_);
        map_ = MAP_FAILED;
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

    const Entry& entry(const std::string& name) const
    {
        auto it = entries_.find(name);
        if (it == entries_.end())
            throw FormatError(path_ + ": a llama2.c checkpoint has no tensor '" + name + "'");
        return it->second;
    }

    std::string path_;
    std::string format_ = "llama2c";
    ModelConfig config_;
    int fd_ = -1;
    void* map_ = MAP_FAILED;
    size_t size_ = 0;
    std::map<std::string, Entry> entries_;
};

Llama2cSource::Llama2cSource(const std::string& path) : path_(path)
{
    try {
        open_and_index();
    } catch (...) {
        release();
        throw;
    }
}

void Llama2cSource::open_and_index()
{
    const std::string& path = path_;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
        throw IoError(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
        throw IoError(path + ": cannot stat: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        throw IoError(path + ": is a directory without config.json");
    size_ = static_cast<size_t>(st.st_size);
    constexpr size_t kHeader = 7 * sizeof(int32_t);
    if (size_ < kHeader)
        throw FormatError(path + ": truncated llama2.c checkpoint: " + std::to_string(size_) +
                          " bytes, the header alone needs 28");
    int32_t h[7];
    if (::pread(fd_, h, sizeof h, 0) != static_cast<ssize_t>(sizeof h))
        throw IoError(path + ": cannot read the header: " + std::strerror(errno));
    const char* fields[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                             "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; ++i)
        if (h[i] == 0 || (i != 5 && h[i] < 0))
            throw FormatError(path + ": llama2.c header field '" + fields[i] + "' = " +
                              std::to_string(h[i]) + " is invalid (not a llama2.c checkpoint?)");
    const int64_t dim = h[0], hidden = h[1], L = h[2], nh = h[3], nkv = h[4], seq = h[6];
    const bool shared = h[5] > 0;  // a negative vocab size announces a separate classifier
    const int64_t V = h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]);
    if (dim % nh != 0)
        throw FormatError(path + ": llama2.c header field 'dim' = " + std::to_string(dim) +
                          " is not a multiple of n_heads = " + std::to_string(nh));
    if (nh % nkv != 0)
        throw FormatError(path + ": llama2.c header field 'n_kv_heads' = " + std::to_string(nkv) +
                          " does not divide n_heads = " + std::to_string(nh));

    ModelConfig& c = config_;
    c.arch = Architecture::llama;
    c.hidden_size = dim;
    c.intermediate_size = hidden;
    c.num_layers = L;
    c.num_heads = nh;
    c.num_kv_heads = nkv;
    c.head_dim = dim / nh;
    c.vocab_size = V;
    c.max_position = seq;
    c.rope_theta = 10000.0;
    c.rms_norm_eps = 1e-5;
    c.tie_word_embeddings = shared;
    c.bos_id = 1;
    c.eos_id = 2;
    c.eos_ids = {2};
    c.torch_dtype = "float32";
    validate_config(c, path);

    const int64_t kv_dim = nkv * c.head_dim;
    // The size the header implies, in 128-bit arithmetic (a lying header must not overflow it),
    // checked against the file before any table is built: a header claiming 2^31 layers would
    // otherwise cost one table entry per tensor per layer before "truncated" is reported.
    {
        using u128 = unsigned __int128;
        const u128 per_layer = 2 * static_cast<u128>(dim) +                  // two RMSNorms
                               2 * static_cast<u128>(dim) * dim +            // wq, wo
                               2 * static_cast<u128>(kv_dim) * dim +         // wk, wv
                               3 * static_cast<u128>(hidden) * dim;          // w1, w2, w3
        const u128 floats = static_cast<u128>(V) * dim * (shared ? 1 : 2) +  // embedding, wcls
                            per_layer * static_cast<u128>(L) + dim +         // blocks, final norm
                            2 * static_cast<u128>(seq) * static_cast<u128>(c.head_dim / 2);
        const u128 need = kHeader + floats * sizeof(float);
        const std::string header = "(dim " + std::to_string(dim) + ", hidden_dim " +
                                   std::to_string(hidden) + ", " + std::to_string(L) +
                                   " layers, vocab " + std::to_string(h[5]) + ", seq_len " +
                                   std::to_string(seq) + ")";
        if (need > static_cast<u128>(size_))
            throw FormatError(path + ": truncated llama2.c checkpoint: " + std::to_string(size_) +
                              " bytes, but the header " + header + " needs " +
                              (need > static_cast<u128>(UINT64_MAX)
                                   ? std::string("more than 2^64")
                                   : std::to_string(static_cast<uint64_t>(need))) +
                              " (or a header field lies)");
        if (need < static_cast<u128>(size_))
            throw FormatError(path + ": llama2.c checkpoint has " +
                              std::to_string(size_ - static_cast<uint64_t>(need)) +
                              " bytes more than its header " + header +
                              " describes; the header lies or this is another format");
    }
    uint64_t off = kHeader;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, int64_t rope_heads = 0) {
        uint64_t n = 1;
        for (int64_t s : shape)
            n *= static_cast<uint64_t>(s);
        entries_[name] = Entry{off, std::move(shape), rope_heads};
        off += n * sizeof(float);
    };
    // Arrays are stored per kind, all layers after each other (the file order of run.c).
    auto per_layer = [&](const std::string& part, std::vector<int64_t> shape, int64_t rope_heads) {
        for (int64_t l = 0; l < L; ++l)
            add(block_tensor_name(l, part), shape, rope_heads);
    };
    add("model.embed_tokens.weight", {V, dim});
    per_layer("input_layernorm.weight", {dim}, 0);
    per_layer("self_attn.q_proj.weight", {dim, dim}, nh);
    per_layer("self_attn.k_proj.weight", {kv_dim, dim}, nkv);
    per_layer("self_attn.v_proj.weight", {kv_dim, dim}, 0);
    per_layer("self_attn.o_proj.weight", {dim, dim}, 0);
    per_layer("post_attention_layernorm.weight", {dim}, 0);
    per_layer("mlp.gate_proj.weight", {hidden, dim}, 0);
    per_layer("mlp.down_proj.weight", {dim, hidden}, 0);
    per_layer("mlp.up_proj.weight", {hidden, dim}, 0);
    add("model.norm.weight", {dim});
    off += 2 * static_cast<uint64_t>(seq) * static_cast<uint64_t>(c.head_dim / 2) * sizeof(float);
    if (!shared)
        add("lm_head.weight", {V, dim});
    if (off != size_)  // checked above, before the tables were built
        throw FormatError(path + ": llama2.c checkpoint size " + std::to_string(size_) +
                          " disagrees with its layout (" + std::to_string(off) + " bytes)");
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (map_ == MAP_FAILED)
        throw IoError(path + ": cannot memory-map: " + std::strerror(errno));
}

at::Tensor Llama2cSource::load(const std::string& name) const
{
    const Entry& e = entry(name);
    at::Tensor t = at::empty(e.shape, at::kFloat);
    std::memcpy(t.data_ptr(), static_cast<const char*>(map_) + e.offset,
                static_cast<size_t>(t.numel()) * sizeof(float));
    if (e.rope_heads > 0) {
        // llama2.c rotates interleaved pairs (2j, 2j+1); HF rotates halves (j, j + d/2).
        // Row 2j + p of a head becomes row p * d/2 + j, so HF's rotate_half sees the same pairs.
        const int64_t d = config_.head_dim, in = e.shape[1];
        t = t.view({e.rope_heads, d / 2, 2, in}).transpose(1, 2).contiguous().view(e.shape);
    }
    return t;
}

}  // namespace

std::unique_ptr<WeightSource> open_llama2c_source(const std::string& path)
{
    return std::make_unique<Llama2cSource>(path);
}

}  // namespace zp::model
