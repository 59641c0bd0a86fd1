// Pre-tokenizer regular expressions (PCRE2 in UTF + UCP mode, JIT where available; internal).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zp::tok {

class Regex {
public:
    // Compiles pattern (Oniguruma/Python-style syntax as found in tokenizer.json). Throws
    // FormatError naming `where` (e.g. "tokenizer.json: pre_tokenizer.pattern.Regex") on a bad
    // pattern, InvalidArgument if built without PCRE2.
    Regex(const std::string& pattern, const std::string& where);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Byte ranges [begin, end) of every non-overlapping match in text, left to right. Thread-safe.
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace zp::tok
