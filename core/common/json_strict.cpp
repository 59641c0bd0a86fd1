#include "core/common/json_strict.h"

#include <unordered_set>
#include <vector>

#include "core/common/error.h"

namespace zp {

namespace {

std::string shorten_key(const std::string& k)
{
    return k.size() > 80 ? k.substr(0, 77) + "..." : k;
}

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, const std::string& origin, int max_depth)
{
    using json = nlohmann::json;
    // One entry per open container: its keys so far (objects) and the name it was reached by.
    struct Open {
        bool object = false;
        std::unordered_set<std::string> keys;
        std::string name;
    };
    std::vector<Open> stack;
    std::string last_key;
    auto where = [&]() {
        std::string p;
        for (const Open& o : stack)
            if (!o.name.empty())
                p += (p.empty() ? "" : ".") + o.name;
        if (p.size() > 120)
            p = "..." + p.substr(p.size() - 100);
        return p.empty() ? std::string("the top-level object") : "'" + p + "'";
    };
    const json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start: {
                if (depth >= max_depth)
                    throw FormatError(origin + ": JSON nested deeper than " +
                                      std::to_string(max_depth) + " levels (inside " + where() +
                                      "); refused");
                Open o;
                o.object = event == json::parse_event_t::object_start;
                o.name = stack.empty() || !stack.back().object ? std::string() : last_key;
                stack.push_back(std::move(o));
                break;
            }
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                if (!stack.empty())
                    stack.pop_back();
                break;
            case json::parse_event_t::key:
                last_key = parsed.get<std::string>();
                if (!stack.empty() && !stack.back().keys.insert(last_key).second)
                    throw FormatError(origin + ": JSON key '" + shorten_key(last_key) +
                                      "' appears twice in " + where() +
                                      " (a parser would silently keep one copy); refused");
                break;
            case json::parse_event_t::value:
                break;
        }
        return true;
    };
    try {
        return json::parse(text.begin(), text.end(), cb);
    } catch (const json::parse_error&) {
        throw;  // the callers name the byte
    } catch (const json::exception& e) {
        // A number too large for a double ("1e+999"), found by fuzz/tokenizer_json: the JSON
        // library's out_of_range would escape every caller's parse_error handler.
        throw FormatError(origin + ": malformed JSON: " + e.what());
    }
}

}  // namespace zp
