// Debian's libsentencepiece carries its own copy of protobuf-lite, and loading it into a process
// that also maps libtorch (whose libprotobuf.so.32 interposes the same symbols) crashes during
// static initialisation. So SentencePiece is built into a module of its own
// (libzp_sentencepiece.so: core/tokenizer/sentencepiece_tokenizer.cpp + spm_module/entry.cpp)
// that is opened with RTLD_DEEPBIND, where it binds to its own protobuf first.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::tok {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZP_ASAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ZP_ASAN_BUILD 1
#endif

#if defined(ZP_HAVE_SENTENCEPIECE)
namespace {

using LoadFn = Tokenizer* (*)(const std::string*);
using VocabFn = void (*)(const std::string*, std::vector<SentencePieceEntry>*);

struct Module {
    LoadFn load = nullptr;
    VocabFn vocab = nullptr;
    std::string error;
};

std::string exe_dir()
{
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return {};
    std::string p(buf, static_cast<size_t>(n));
    return p.substr(0, p.find_last_of('/'));
}

const Module& module()
{
    static Module m;
    static std::once_flag once;
    std::call_once(once, [] {
#if defined(ZP_ASAN_BUILD)
        m.error =
            " a sanitizer build cannot load it (it is opened with RTLD_DEEPBIND, which "
            "AddressSanitizer refuses; tests/fuzz fuzzes SentencePiece under ASan + UBSan, "
            "linked directly)";
        return;
#endif
        std::vector<std::string> candidates;
        if (const char* env = std::getenv("ZP_SENTENCEPIECE_MODULE"))
            candidates.emplace_back(env);
        std::string dir = exe_dir();
        if (!dir.empty()) {
            candidates.push_back(dir + "/" ZP_SPM_MODULE_NAME);
            candidates.push_back(dir + "/../lib/" ZP_SPM_MODULE_NAME);
            candidates.push_back(dir + "/../lib/zeropoint/" ZP_SPM_MODULE_NAME);
        }
#if defined(ZP_SPM_MODULE_BUILD_DIR)
        candidates.push_back(std::string(ZP_SPM_MODULE_BUILD_DIR) + "/" ZP_SPM_MODULE_NAME);
#endif
        candidates.emplace_back(ZP_SPM_MODULE_NAME);
        for (const std::string& c : candidates) {
            void* h = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
            if (!h) {
                m.error += "\n  " + c + ": " + ::dlerror();
                continue;
            }
            m.load = reinterpret_cast<LoadFn>(::dlsym(h, "zp_spm_load_tokenizer"));
            m.vocab = reinterpret_cast<VocabFn>(::dlsym(h, "zp_spm_read_vocab"));
            if (m.load && m.vocab)
                return;
            m.error += "\n  " + c + ": entry points missing";
        }
    });
    return m;
}

const Module& require_module(const std::string& path)
{
    const Module& m = module();
    if (!m.load)
        throw InvalidArgument(
            path +
            ": the SentencePiece module (" ZP_SPM_MODULE_NAME ") could not be loaded:" + m.error);
    return m;
}

}  // namespace

std::string sentencepiece_unavailable()
{
    const Module& m = module();
    return m.load
               ? std::string()
               : "the SentencePiece module (" ZP_SPM_MODULE_NAME ") could not be loaded:" + m.error;
}

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path)
{
    return std::unique_ptr<Tokenizer>(require_module(path).load(&path));
}

std::vector<SentencePieceEntry> read_sentencepiece_vocab(const std::string& path)
{
    std::vector<SentencePieceEntry> out;
    require_module(path).vocab(&path, &out);
    return out;
}

#else

std::string sentencepiece_unavailable()
{
    return "built without sentencepiece (install libsentencepiece-dev and rebuild)";
}

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path)
{
    throw InvalidArgument(path +
                          ": this build has no SentencePiece (built without sentencepiece; install "
                          "libsentencepiece-dev and rebuild, or use the model's tokenizer.json)");
}

std::vector<SentencePieceEntry> read_sentencepiece_vocab(const std::string& path)
{
    load_sentencepiece_tokenizer(path);
    return {};
}

#endif

}  // namespace zp::tok
