#include "core/tokenizer/regex_split.h"

#include "core/common/error.h"
#include "core/tokenizer/utf8.h"

#if defined(ZP_HAVE_PCRE2)
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

namespace zp::tok {

#if defined(ZP_HAVE_PCRE2)

struct Regex::Impl {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Impl()
    {
        if (code)
            pcre2_code_free(code);
    }
};

Regex::Regex(const std::string& pattern, const std::string& where) : impl_(std::make_unique<Impl>())
{
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    // UCP makes \s, \w, \d and POSIX classes follow Unicode properties, as the Oniguruma and
    // fancy-regex engines behind tokenizer.json patterns do.
    impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
    if (!impl_->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        throw FormatError(where + ": regular expression '" + pattern +
                          "' does not compile at offset " + std::to_string(err_offset) + ": " +
                          reinterpret_cast<const char*>(msg));
    }
    // The JIT is an optimisation only: an interpreter match gives the same spans.
    impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

namespace {

// Matches in one valid UTF-8 run, appending spans shifted by base.
void match_run(pcre2_code* code, bool jit, pcre2_match_data* md, std::string_view run, size_t base,
               std::vector<std::pair<size_t, size_t>>& out)
{
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(run.data());
    size_t pos = 0;
    while (pos < run.size()) {
        // The run was validated once by the caller: without NO_UTF_CHECK PCRE2 would re-check the
        // whole subject on every call, which is quadratic over a long text.
        int rc = PCRE2_ERROR_NOMATCH;
        if (jit)
            rc = pcre2_jit_match(code, subject, run.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (!jit || (rc < 0 && rc != PCRE2_ERROR_NOMATCH))  // e.g. JIT stack exhausted: interpret
            rc = pcre2_match(code, subject, run.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            throw Error(std::string("pre-tokenizer regular expression failed: ") +
                        reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t b = ov[0], e = ov[1];
        if (e <= b) {
            // An empty match carries no text; step over one character so the scan advances.
            pos = b + utf8::seq_len(static_cast<unsigned char>(run[b]));
            continue;
        }
        out.emplace_back(base + b, base + e);
        pos = e;
    }
}

}  // namespace

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const
{
    std::vector<std::pair<size_t, size_t>> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
    if (!md)
        throw std::bad_alloc();
    try {
        // Invalid bytes (byte-level BPE accepts any bytes) cannot be given to PCRE2 in UTF mode:
        // the valid runs between them are matched separately and the bad bytes stay unmatched.
        size_t run_start = 0;
        for (size_t i = 0; i < text.size();) {
            const size_t at = i;
            if (utf8::decode(text, i) == 0xFFFFFFFFu) {
                if (at > run_start)
                    match_run(impl_->code, impl_->jit, md, text.substr(run_start, at - run_start),
                              run_start, out);
                run_start = i;
            }
        }
        if (text.size() > run_start)
            match_run(impl_->code, impl_->jit, md, text.substr(run_start), run_start, out);
    } catch (...) {
        pcre2_match_data_free(md);
        throw;
    }
    pcre2_match_data_free(md);
    return out;
}

#else

struct Regex::Impl {};

Regex::Regex(const std::string& pattern, const std::string& where)
{
    throw InvalidArgument(where + ": built without PCRE2, so the pre-tokenizer pattern '" +
                          pattern + "' cannot be used (install libpcre2-dev and rebuild)");
}

Regex::~Regex() = default;

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view) const
{
    return {};
}

#endif

}  // namespace zp::tok
