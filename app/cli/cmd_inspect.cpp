// zeropoint-cli inspect: what a workbench file holds -- a session (.h5) or a GGUF.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/export/session.h"
#include "core/formats/gguf.h"

namespace zp::cli {

namespace {

std::string value_text(const gguf::Value& v)
{
    using gguf::ValueType;
    switch (v.type) {
        case ValueType::string:
            return "\"" + (v.s.size() > 60 ? v.s.substr(0, 57) + "..." : v.s) + "\"";
        case ValueType::boolean:
            return v.b ? "true" : "false";
        case ValueType::f32:
        case ValueType::f64: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", v.f);
            return buf;
        }
        case ValueType::i8:
        case ValueType::i16:
        case ValueType::i32:
        case ValueType::i64:
            return std::to_string(v.i);
        case ValueType::array:
            return std::string("[") + std::to_string(v.array_size()) + " x " +
                   gguf::value_type_name(v.array_type) + "]";
        default:
            return std::to_string(v.u);
    }
}

void inspect_gguf(const std::string& path)
{
    const gguf::File f = gguf::read(path);
    std::printf("%s: GGUF v%u, %llu bytes, alignment %llu, %zu metadata keys, %zu tensors\n",
                path.c_str(), f.version, static_cast<unsigned long long>(f.file_size),
                static_cast<unsigned long long>(f.alignment), f.kv.size(), f.tensors.size());
    for (const auto& [k, v] : f.kv)
        std::printf("  %-44s %-6s %s\n", k.c_str(), gguf::value_type_name(v.type),
                    value_text(v).c_str());
    for (const auto& t : f.tensors) {
        std::string shape;
        for (size_t i = 0; i < t.ne.size(); ++i)
            shape += (i ? ", " : "") + std::to_string(t.ne[i]);
        std::printf("  %-44s %-5s [%s] %llu bytes\n", t.name.c_str(),
                    gguf::tensor_type_traits(static_cast<uint32_t>(t.type)).name, shape.c_str(),
                    static_cast<unsigned long long>(t.bytes));
    }
}

void run_inspect(const std::string& path)
{
    char magic[4] = {0, 0, 0, 0};
    {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            throw IoError("cannot open '" + path + "'");
        in.read(magic, 4);
    }
    if (std::string(magic, 4) == "GGUF") {
        inspect_gguf(path);
        return;
    }
    const quant::QuantizedModel qm = read_session_noted(path);
    std::printf("%s: ZeroPoint session (schema %s v%lld)\n%s", path.c_str(), session::kSchema,
                static_cast<long long>(session::kSchemaVersion), session::summarize(qm).c_str());
}

}  // namespace

quant::QuantizedModel read_session_noted(const std::string& path)
{
    session::ReadInfo info;
    quant::QuantizedModel qm = session::read_session(path, &info);
    if (!info.note.empty())
        std::fprintf(stderr, "note: %s\n", info.note.c_str());
    return qm;
}

void add_inspect_command(CLI::App& app)
{
    auto path = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("inspect", "Summarize a session file (.h5) or a GGUF file");
    cmd->add_option("file", *path, "session .h5 or .gguf")->required();
    cmd->callback([path]() { run_inspect(*path); });
}

}  // namespace zp::cli
