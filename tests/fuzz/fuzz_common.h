// Shared by the libFuzzer targets (tests/fuzz/README.md). Every parser of the engine reads files,
// so each input is written to a file of a per-process temporary folder and parsed from there. An
// input that the parser refuses with one of the engine's own errors (zp::Error: IoError,
// FormatError, InvalidArgument, NumericError) is a pass; anything else that escapes (a
// std::bad_alloc, a c10::Error, a JSON library exception, a crash, a sanitizer report, a leak or a
// timeout) is a finding.
#pragma once

#include <dirent.h>
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/common/error.h"

namespace zp::fuzz {

// The folder this process writes its inputs to (created once, removed at exit).
inline const std::string& scratch_dir()
{
    static const std::string dir = [] {
        std::string t = "/tmp/zp-fuzz-XXXXXX";
        if (!mkdtemp(t.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        static std::string keep = t;
        std::atexit([] {
            const std::string cmd = "rm -rf '" + keep + "'";
            if (std::system(cmd.c_str()) != 0)
                std::fprintf(stderr, "could not remove %s\n", keep.c_str());
        });
        return t;
    }();
    return dir;
}

// Writes bytes to scratch_dir()/name and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size)
{
    const std::string path = scratch_dir() + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
        std::perror(path.c_str());
        std::abort();
    }
    return path;
}

// Open file descriptors of this process.
inline int open_descriptors()
{
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (readdir(d))
            ++n;
        closedir(d);
    }
    return n;
}

// Runs fn; the engine's own errors are the expected refusals. A descriptor left open by fn (a
// file the parser opened and did not close on its way out) is a finding: when the count grows,
// fn runs once more, and a second growth is a leak (the first may be a one-time
// initialisation inside a library).
template <class F>
int parse_or_refuse(F&& fn)
{
    auto run = [&] {
        try {
            fn();
        } catch (const zp::Error&) {
        }
    };
    const int before = open_descriptors();
    run();
    if (const int once = open_descriptors(); once > before) {
        run();
        if (const int twice = open_descriptors(); twice > once) {
            std::fprintf(stderr,
                         "descriptor leak: %d open, %d after the input, %d after it again\n",
                         before, once, twice);
            std::abort();
        }
    }
    return 0;
}

// A short text with ASCII, UTF-8, digits and whitespace runs, for the tokenizers.
inline const char* sample_text()
{
    return "Once upon a time, 42 cats\tran  home.\nNaïve café — 日本語 \xF0\x9F\x98\x80 end";
}

}  // namespace zp::fuzz
