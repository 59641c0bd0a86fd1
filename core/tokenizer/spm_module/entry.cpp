// Entry points of the SentencePiece module (see core/tokenizer/sentencepiece_loader.cpp for why
// SentencePiece lives in a module of its own). Built with load_sentencepiece_tokenizer and
// read_sentencepiece_vocab renamed, so the module's implementation never collides with the
// loader's functions of the same names in the main program.
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

extern "C" __attribute__((visibility("default"))) zp::tok::Tokenizer* zp_spm_load_tokenizer(
    const std::string* path)
{
    return zp::tok::load_sentencepiece_tokenizer(*path).release();
}

extern "C" __attribute__((visibility("default"))) void zp_spm_read_vocab(
    const std::string* path, std::vector<zp::tok::SentencePieceEntry>* out)
{
    *out = zp::tok::read_sentencepiece_vocab(*path);
}
