// Choosing a tokenizer by file content, and the tokenizer/model vocabulary check.
#include "core/tokenizer/tokenizer.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/common/error.h"
#include "core/common/text.h"

namespace zp::tok {
namespace {

namespace fs = std::filesystem;

enum class Kind { hf_json, sentencepiece, llama2c };

// The extension decides where it is a known one; otherwise the first bytes do. A SentencePiece
// ModelProto begins with field 1 (a piece message: tag 0x0A, a length, then the piece's own tag
// 0x0A); a llama2.c tokenizer.bin begins with a small little-endian int32 (max_token_length).
Kind sniff(const std::string& path, const std::string& head)
{
    if (ends_with(path, ".json"))
        return Kind::hf_json;
    if (ends_with(path, ".model"))
        return Kind::sentencepiece;
    if (ends_with(path, ".bin"))
        return Kind::llama2c;
    for (char ch : head) {
        if (ch == '{')
            return Kind::hf_json;
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t')
            break;
    }
    if (head.size() >= 3 && head[0] == 0x0A) {
        size_t i = 1;
        while (i < head.size() && (static_cast<unsigned char>(head[i]) & 0x80))
            ++i;  // varint length
        if (i + 1 < head.size() && head[i + 1] == 0x0A)
            return Kind::sentencepiece;
    }
    return Kind::llama2c;
}

}  // namespace

int32_t count_llama2c_tokens(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError("cannot open llama2.c tokenizer '" + path + "'");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<int64_t>(in.tellg());
    in.seekg(0);
    if (size < 4)
        throw FormatError(path + ": max_token_length: file is " + std::to_string(size) +
                          " bytes, too short for the llama2.c tokenizer header");
    int64_t pos = 4;
    int32_t count = 0;
    // Entries are {float score; int32 len; char bytes[len]}. Walking the lengths to the end of the
    // file gives the count; a cut-off last entry is counted so that the loader meets it and reports
    // exactly which token is truncated.
    while (pos < size) {
        ++count;
        if (pos + 8 > size)
            break;
        int32_t len = 0;
        in.seekg(pos + 4);
        in.read(reinterpret_cast<char*>(&len), 4);
        if (!in)
            throw IoError("cannot read llama2.c tokenizer '" + path + "'");
        if (len < 0)
            break;  // the loader names the bad length
        // 64-bit: a length of up to 2^31 - 1 must not overflow an int.
        pos += 8 + static_cast<int64_t>(len);
    }
    if (count == 0)
        throw FormatError(path + ": tokens: the llama2.c tokenizer holds no tokens");
    return count;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path)
{
    std::error_code ec;
    std::string file = path;
    if (fs::is_directory(path, ec)) {
        file.clear();
        for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin"}) {
            const fs::path p = fs::path(path) / name;
            if (fs::is_regular_file(p, ec)) {
                file = p.string();
                break;
            }
        }
        if (file.empty())
            throw IoError("no tokenizer.json, tokenizer.model or tokenizer.bin in directory '" +
                          path + "'");
    }
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw IoError("cannot open tokenizer file '" + file + "'");
    std::string head(64, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));

    // GGUF (llama.cpp): the magic decides, whatever the name.
    if (head.size() >= 4 && std::memcmp(head.data(), "GGUF", 4) == 0)
        return load_gguf_tokenizer(file);
    switch (sniff(file, head)) {
        case Kind::hf_json:
            return load_hf_tokenizer(file);
        case Kind::sentencepiece:
            return load_sentencepiece_tokenizer(file);
        case Kind::llama2c:
            break;
    }
    return load_llama2c_tokenizer(file, count_llama2c_tokens(file));
}

void check_vocab_matches(const Tokenizer& tok, int32_t model_vocab_size,
                         const std::string& tokenizer_path, const std::string& model_path)
{
    if (tok.vocab_size() > model_vocab_size)
        throw FormatError(
            "tokenizer '" + tokenizer_path + "' has " + std::to_string(tok.vocab_size()) +
            " ids (vocab_size) but model '" + model_path + "' has a vocabulary of only " +
            std::to_string(model_vocab_size) +
            " (embedding rows): ids past the end would index outside the embedding; use the "
            "model's own tokenizer");
}

}  // namespace zp::tok
