// Tokenizers: one interface for llama2.c tokenizer.bin, SentencePiece .model and Hugging Face
// tokenizer.json (byte-level BPE and SentencePiece-style BPE).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace zp::tok {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Text -> ids. add_bos prepends the BOS id (where the tokenizer has one).
    virtual std::vector<int32_t> encode(const std::string& text, bool add_bos) const = 0;
    // Ids -> text (UTF-8). Special tokens (BOS/EOS) are dropped.
    virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
    // The text one id adds when it follows prev (streaming generation; llama2.c's decode rule:
    // a leading space is stripped after BOS, <0xXX> pieces become raw bytes).
    virtual std::string decode_piece(int32_t prev, int32_t id) const = 0;

    virtual int32_t vocab_size() const = 0;
    virtual int32_t bos_id() const = 0;  // -1 if none
    virtual int32_t eos_id() const = 0;  // -1 if none
    // The piece string of an id as stored in the vocabulary (for display and GGUF export).
    virtual std::string piece(int32_t id) const = 0;
};

// Opens a tokenizer by content: a GGUF file (its tokenizer.ggml.* metadata: a .gguf model is its
// own tokenizer), tokenizer.json (HF), *.model (SentencePiece), otherwise llama2.c tokenizer.bin.
// A directory is searched for tokenizer.json, then tokenizer.model.
// Throws IoError / FormatError naming the file and the field.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// llama2.c tokenizer.bin; vocab_size as in the model header (the file does not store it).
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& path, int32_t vocab_size);

// Throws FormatError naming both files if the tokenizer cannot serve a model of this vocabulary
// size (more ids than the model's embedding rows).
void check_vocab_matches(const Tokenizer& tok, int32_t model_vocab_size,
                         const std::string& tokenizer_path, const std::string& model_path);

}  // namespace zp::tok

namespace zp::tok {

// SentencePiece .model (needs libsentencepiece; throws InvalidArgument "built without
// sentencepiece" otherwise). Encodes exactly as SentencePiece does (dummy prefix, byte fallback).
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path);
// Why this process cannot read SentencePiece .model files ("" when it can): a build without
// libsentencepiece, a sanitizer build (its module cannot be loaded there), or a module that did
// not load. Loads the module on first use.
std::string sentencepiece_unavailable();

// Hugging Face tokenizer.json (model type BPE: byte-level or SentencePiece-style). BOS/EOS come
// from a tokenizer_config.json beside the file, else the post_processor template, else well-known
// names (<s>, <|begin_of_text|>, <|endoftext|>). Supported: normalizers Sequence/Prepend/Replace/
// Strip/NFC (NFC is taken as identity: exact for text already in NFC); pre-tokenizers Sequence/
// ByteLevel/Split/Digits/Metaspace; decoders Sequence/ByteLevel/Replace/ByteFallback/Fuse/Strip/
// Metaspace. Anything else is a FormatError naming the field, never silently skipped.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path);
// The same from JSON text already in memory; `name` stands for the file in error messages.
std::unique_ptr<Tokenizer> load_hf_tokenizer_from_json(const std::string& json_text,
                                                       const std::string& name);

// The same with the text of a tokenizer_config.json (its bos_token / eos_token) given in memory.
std::unique_ptr<Tokenizer> load_hf_tokenizer_from_json(const std::string& json_text,
                                                       const std::string& name,
                                                       const std::string& config_json_text);

// A GGUF file's tokenizer (llama.cpp's tokenizer.ggml.* metadata): "gpt2" byte-level BPE with the
// pre-tokenizer tokenizer.ggml.pre names (llama-bpe / llama3, qwen2, smollm / starcoder, gpt-2,
// default, and the names llama.cpp treats alike), or "llama" SentencePiece (scores, token types,
// byte fallback, add_space_prefix). Encodes as llama.cpp's llama_tokenize with parse_special =
// false: control tokens in the text are plain text, user-defined ones are matched; encode(text,
// true) prepends BOS only where the file asks for one (tokenizer.ggml.add_bos_token; llama.cpp's
// default: yes for llama and llama-bpe, no for other gpt2 types). decode drops control tokens.
// Throws IoError, or FormatError naming the file and the metadata key.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

// One entry of a SentencePiece vocabulary, as stored in the .model file.
struct SentencePieceEntry {
    enum class Kind { normal, unknown, control, unused, byte };
    std::string piece;
    float score = 0.0f;
    Kind kind = Kind::normal;
};
// The pieces of a SentencePiece .model in id order (for export to tokenizer.json / GGUF).
std::vector<SentencePieceEntry> read_sentencepiece_vocab(const std::string& path);

// Number of entries in a llama2.c tokenizer.bin, counted by reading the file to its end (a
// trailing partial entry counts, so the loader reports the truncation). Throws IoError/FormatError.
int32_t count_llama2c_tokens(const std::string& path);

}  // namespace zp::tok
