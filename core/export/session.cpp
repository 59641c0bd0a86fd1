#include "core/export/session.h"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include <ATen/ATen.h>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/formats/hdf5.h"
#include "core/pipeline/run_options.h"

namespace zp::session {

std::string summarize(const quant::QuantizedModel& qm)
{
    std::ostringstream o;
    const auto& c = qm.config;
    o << "model:        " << c.model_path << " (config hash " << c.model_config_hash << ")\n"
      << "method:       " << c.method << ", " << c.bits << " bits, group "
      << (c.group_size < 0 ? std::string("channel-wise") : std::to_string(c.group_size)) << "\n"
      << "calibration:  "
      << (c.calibration_source.empty() ? std::string("data-free") : c.calibration_source);
    if (!c.calibration_source.empty())
        o << " (" << c.calibration_samples << " x " << c.calibration_seqlen << " tokens)";
    o << ", seed " << c.seed << "\n"
      << "software:     " << c.software_version << "\n";
    for (const auto& [k, v] : c.extra)
        o << "extra:        " << k << " = " << v << "\n";
    for (const auto& [k, v] : qm.perplexity) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4f", v);
        o << "perplexity:   " << k << " = " << buf << "\n";
    }
    o << "layers:       " << qm.layers.size() << "\n";
    for (const auto& l : qm.layers) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "  block %3lld %-9s %-4s %-10s %d-bit g%-5lld [%lld x %lld]%s  rel.err %.4g  "
                      "diag %.4g\n",
                      static_cast<long long>(l.block), l.name.c_str(),
                      quant::algorithm_name(l.algorithm), l.param_method.c_str(), l.bits,
                      static_cast<long long>(l.group_size), static_cast<long long>(l.out_features),
                      static_cast<long long>(l.in_features), l.skipped ? " skipped" : "",
                      l.relative_weight_error, l.diag_loss);
        o << buf;
    }
    return o.str();
}

#if !defined(ZP_HAVE_HDF5)

bool available()
{
    return false;
}

void write_session(const quant::QuantizedModel&, const std::string& path)
{
    throw InvalidArgument(path + ": this build has no HDF5 (session files need libhdf5)");
}

quant::QuantizedModel read_session(const std::string& path)
{
    throw InvalidArgument(path + ": this build has no HDF5 (session files need libhdf5)");
}

#else

bool available()
{
    return true;
}

namespace {

std::string layer_group_name(size_t i)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06zu", i);
    return buf;
}

// A group's count attribute, checked against the children it holds.
int64_t checked_count(const h5::Location& g, const std::string& path, const char* what)
{
    const int64_t count = g.get_i64("count");
    if (count < 0 || static_cast<size_t>(count) != g.children().size())
        g.fail(path + "@count", std::to_string(count) + ", but the group holds " +
                                    std::to_string(g.children().size()) + " " + what);
    return count;
}

// The tensors of a GroupTransform the session keeps, by dataset name (written and read alike).
const std::vector<std::pair<const char*, at::Tensor quant::GroupTransform::*> >& transform_tensors()
{
    using T = quant::GroupTransform;
    static const std::vector<std::pair<const char*, at::Tensor T::*> > table = {
        {"smooth", &T::smooth},
        {"r0", &T::r0},
        {"perm", &T::perm},
        {"r1", &T::r1},
        {"householder", &T::householder},
        {"act_max", &T::act_max},
        {"act_max_after", &T::act_max_after}};
    return table;
}

void write_transforms(h5::File& f, const quant::QuantizedModel& qm)
{
    const std::vector<const quant::GroupTransform*> all = qm.transforms.all();
    h5::Location ts = f.create_group("transforms");
    ts.set_i64("count", static_cast<int64_t>(all.size()));
    for (size_t i = 0; i < all.size(); ++i) {
        const quant::GroupTransform& t = *all[i];
        h5::Location g = ts.create_group(layer_group_name(i));
        g.set_i64("block", t.block);
        g.set_string("input", t.input);
        g.set_string("kind", quant::transform_kind_info(t.kind).name);
        g.set_i64("width", t.width);
        g.set_i64("rotation_block", t.rotation_block);
        g.set_i64("tokens", t.tokens);
        g.set_f64("act_error_plain", t.act_error_plain);
        g.set_f64("act_error", t.act_error);
        g.set_f64("seconds", t.seconds);
        g.set_f64("stage2_loss_before", t.stage2_loss_before);
        g.set_f64("stage2_loss_after", t.stage2_loss_after);
        for (const auto& [name, member] : transform_tensors())
            if ((t.*member).defined())
                g.write_tensor(name, (t.*member).contiguous());
    }
}

void read_transforms(const h5::File& f, quant::QuantizedModel& qm, const std::string& path)
{
    const h5::Location ts = f.open_group("transforms");
    const int64_t count = checked_count(ts, "/transforms", "transforms");
    for (int64_t i = 0; i < count; ++i) {
        const h5::Location g = ts.open_group(layer_group_name(static_cast<size_t>(i)));
        quant::GroupTransform t;
        t.block = g.get_i64("block");
        t.input = g.get_string("input");
        const std::string kind = g.get_string("kind");
        try {
            t.kind = quant::parse_transform_kind(kind);
        } catch (const InvalidArgument& e) {
            g.fail(g.path() + "@kind", e.what());
        }
        t.width = g.get_i64("width");
        t.rotation_block = g.get_i64("rotation_block");
        t.tokens = g.get_i64("tokens");
        t.act_error_plain = g.get_f64("act_error_plain");
        t.act_error = g.get_f64("act_error");
        t.seconds = g.get_f64("seconds");
        t.stage2_loss_before = g.get_f64("stage2_loss_before");
        t.stage2_loss_after = g.get_f64("stage2_loss_after");
        for (const auto& [name, member] : transform_tensors())
            if (g.has(name))
                t.*member = g.read_tensor(name);
        bool known = false;
        for (const model::LinearGroup& lg : model::linear_input_groups())
            known = known || t.input == lg.input;
        if (!known)
            g.fail(g.path() + "@input", "'" + t.input + "' is not a linear-input group");
        try {
            t.check(path);
        } catch (const InvalidArgument& e) {
            g.fail(g.path(), e.what());
        }
        if (qm.transforms.find(t.block, t.input))
            g.fail(g.path(),
                   "a second transform for block " + std::to_string(t.block) + " " + t.input);
        qm.transforms.add(std::move(t));
    }
}

void write_contents(h5::File& f, const quant::QuantizedModel& qm)
{
    f.set_string("schema", kSchema);
    // Version 2 only where it matters: a file without transforms stays readable by version-1
    // readers; one with them is refused by those rather than read without its transforms.
    f.set_i64("schema_version",
              qm.transforms.empty() && qm.float_parts.empty() && qm.distill_loss.empty()
                  ? 1
                  : kSchemaVersion);
    f.set_string("software_version", qm.config.software_version);
    {
        h5::Location c = f.create_group("config");
        const auto& rc = qm.config;
        c.set_string("model_path", rc.model_path);
        c.set_string("model_config_hash", rc.model_config_hash);
        c.set_string("calibration_source", rc.calibration_source);
        c.set_string("method", rc.method);
        c.set_string("software_version", rc.software_version);
        c.set_i64("calibration_samples", rc.calibration_samples);
        c.set_i64("calibration_seqlen", rc.calibration_seqlen);
        c.set_i64("bits", rc.bits);
        c.set_i64("group_size", rc.group_size);
        c.set_u64("seed", rc.seed);
        std::vector<std::string> keys, values;
        for (const auto& [k, v] : rc.extra) {
            keys.push_back(k);
            values.push_back(v);
        }
        c.write_strings("extra_keys", keys);
        c.write_strings("extra_values", values);
    }
    {
        h5::Location p = f.create_group("perplexity");
        std::vector<std::string> names;
        std::vector<double> values;
        for (const auto& [k, v] : qm.perplexity) {
            names.push_back(k);
            values.push_back(v);
        }
        p.write_strings("names", names);
        p.write_tensor(
            "values",
            at::tensor(values, at::kDouble).reshape({static_cast<int64_t>(values.size())}));
    }
    h5::Location layers = f.create_group("layers");
    layers.set_i64("count", static_cast<int64_t>(qm.layers.size()));
    for (size_t i = 0; i < qm.layers.size(); ++i) {
        const quant::LayerResult& l = qm.layers[i];
        h5::Location g = layers.create_group(layer_group_name(i));
        g.set_i64("block", l.block);
        g.set_i64("bits", l.bits);
        g.set_i64("group_size", l.group_size);
        g.set_i64("out_features", l.out_features);
        g.set_i64("in_features", l.in_features);
        g.set_i64("skipped", l.skipped ? 1 : 0);
        g.set_string("name", l.name);
        g.set_string("algorithm", quant::algorithm_name(l.algorithm));
        g.set_string("param_method", l.param_method);
        g.set_f64("diag_loss", l.diag_loss);
        g.set_f64("diag_loss_minmax", l.diag_loss_minmax);
        g.set_f64("proxy_loss", l.proxy_loss);
        g.set_f64("proxy_loss_rtn_minmax", l.proxy_loss_rtn_minmax);
        g.set_f64("relative_weight_error", l.relative_weight_error);
        g.set_f64("seconds", l.seconds);
        if (l.scale.defined())
            g.write_tensor("scale", l.scale);
        if (l.zero.defined())
            g.write_tensor("zero", l.zero);
        if (l.codes.defined())
            g.write_tensor("codes", l.codes);
        if (l.hessian_diag.defined())
            g.write_tensor("hessian_diag", l.hessian_diag);
    }
    if (!qm.transforms.empty())
        write_transforms(f, qm);
    if (!qm.float_parts.empty()) {
        h5::Location fp = f.create_group("float_parts");
        std::vector<std::string> names;
        for (const auto& [name, t] : qm.float_parts) {
            fp.write_tensor(layer_group_name(names.size()), t.to(at::kFloat).contiguous());
            names.push_back(name);
        }
        fp.write_strings("names", names);
    }
    if (!qm.distill_loss.empty()) {
        h5::Location d = f.create_group("distill");
        d.write_tensor("loss", at::tensor(qm.distill_loss, at::kDouble)
                                   .reshape({static_cast<int64_t>(qm.distill_loss.size())}));
    }
}

void check_shape(const h5::Location& g, const char* name, const at::Tensor& t,
                 std::vector<int64_t> want)
{
    if (!t.defined())
        return;
    if (t.sizes().vec() != want) {
        std::string s = "[";
        for (size_t i = 0; i < want.size(); ++i)
            s += (i ? ", " : "") + std::to_string(want[i]);
        g.fail(g.path() + "/" + name, "shape " + std::string(c10::str(t.sizes())) +
                                          " contradicts the layer's sizes " + s + "]");
    }
}

}  // namespace

void write_session(const quant::QuantizedModel& qm, const std::string& path)
{
    std::string tmp = path + ".tmp-XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0)
        throw IoError(path +
                      ": cannot create a temporary file next to it: " + std::strerror(errno));
    try {
        // mkstemp made it 0600; HDF5 truncates it in place and keeps that mode.
        apply_umask_mode(fd, path);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    try {
        h5::File f = h5::File::create(tmp);
        write_contents(f, qm);
        f.close();
        const int sfd = ::open(tmp.c_str(), O_RDONLY);
        if (sfd < 0 || ::fsync(sfd) != 0) {
            if (sfd >= 0)
                ::close(sfd);
            throw IoError(path +
                          ": cannot flush the session file to disk: " + std::strerror(errno));
        }
        ::close(sfd);
        if (std::rename(tmp.c_str(), path.c_str()) != 0)
            throw IoError(path +
                          ": cannot rename the temporary into place: " + std::strerror(errno));
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
}

quant::QuantizedModel read_session(const std::string& path)
{
    h5::File f = h5::File::open(path);
    if (!f.has_attr("schema"))
        throw FormatError(
            path +
            ": /@schema: missing: an HDF5 file, but not a ZeroPoint session (no schema attribute)");
    const std::string schema = f.get_string("schema");
    if (schema != kSchema)
        throw FormatError(path + ": /@schema: '" + schema + "' is not '" + kSchema + "'");
    const int64_t version = f.get_i64("schema_version");
    if (version < 1 || version > kSchemaVersion)
        throw FormatError(path + ": /@schema_version: " + std::to_string(version) +
                          " (this build reads 1.." + std::to_string(kSchemaVersion) +
                          "; a newer ZeroPoint wrote it)");
    quant::QuantizedModel qm;
    {
        const h5::Location c = f.open_group("config");
        auto& rc = qm.config;
        rc.model_path = c.get_string("model_path");
        rc.model_config_hash = c.get_string("model_config_hash");
        rc.calibration_source = c.get_string("calibration_source");
        rc.method = c.get_string("method");
        rc.software_version = c.get_string("software_version");
        rc.calibration_samples = c.get_i64("calibration_samples");
        rc.calibration_seqlen = c.get_i64("calibration_seqlen");
        rc.bits = static_cast<int>(c.get_i64("bits"));
        rc.group_size = c.get_i64("group_size");
        rc.seed = c.get_u64("seed");
        const auto keys = c.read_strings("extra_keys");
        const auto values = c.read_strings("extra_values");
        if (keys.size() != values.size())
            c.fail("/config/extra_values", std::to_string(values.size()) + " values for " +
                                               std::to_string(keys.size()) + " keys");
        for (size_t i = 0; i < keys.size(); ++i)
            rc.extra[keys[i]] = values[i];
        try {  // the run options in it must be what the one table accepts
            pipeline::RunOptions checked;
            pipeline::apply_record(checked, rc.extra, "/config/extra_values");
        } catch (const InvalidArgument& e) {
            c.fail("/config/extra_values", e.what());
        }
    }
    {
        const h5::Location p = f.open_group("perplexity");
        const auto names = p.read_strings("names");
        const at::Tensor values = p.read_tensor("values");
        if (values.scalar_type() != at::kDouble || values.dim() != 1 ||
            values.size(0) != static_cast<int64_t>(names.size()))
            p.fail("/perplexity/values", "expected float64 [" + std::to_string(names.size()) + "]");
        for (size_t i = 0; i < names.size(); ++i)
            qm.perplexity[names[i]] = values[static_cast<int64_t>(i)].item<double>();
    }
    const h5::Location layers = f.open_group("layers");
    const int64_t count = checked_count(layers, "/layers", "layers");
    for (int64_t i = 0; i < count; ++i) {
        const h5::Location g = layers.open_group(layer_group_name(static_cast<size_t>(i)));
        quant::LayerResult l;
        l.block = g.get_i64("block");
        l.bits = static_cast<int>(g.get_i64("bits"));
        l.group_size = g.get_i64("group_size");
        l.out_features = g.get_i64("out_features");
        l.in_features = g.get_i64("in_features");
        l.skipped = g.get_i64("skipped") != 0;
        l.name = g.get_string("name");
        const std::string alg = g.get_string("algorithm");
        try {
            l.algorithm = quant::parse_algorithm(alg);
        } catch (const InvalidArgument&) {
            g.fail(g.path() + "@algorithm", "'" + alg + "' is neither rtn nor gptq");
        }
        l.param_method = g.get_string("param_method");
        l.diag_loss = g.get_f64("diag_loss");
        l.diag_loss_minmax = g.get_f64("diag_loss_minmax");
        l.proxy_loss = g.get_f64("proxy_loss");
        l.proxy_loss_rtn_minmax = g.get_f64("proxy_loss_rtn_minmax");
        l.relative_weight_error = g.get_f64("relative_weight_error");
        l.seconds = g.get_f64("seconds");
        if (g.has("scale"))
            l.scale = g.read_tensor("scale");
        if (g.has("zero"))
            l.zero = g.read_tensor("zero");
        if (g.has("codes"))
            l.codes = g.read_tensor("codes");
        if (g.has("hessian_diag"))
            l.hessian_diag = g.read_tensor("hessian_diag");
        if (l.group_size > 0) {
            // ceil(in / g) groups: the last one is shorter when g does not divide in.
            const int64_t groups = (l.in_features + l.group_size - 1) / l.group_size;
            check_shape(g, "scale", l.scale, {l.out_features, groups});
            check_shape(g, "zero", l.zero, {l.out_features, groups});
        }
        check_shape(g, "codes", l.codes, {l.out_features, l.in_features});
        check_shape(g, "hessian_diag", l.hessian_diag, {l.in_features});
        qm.layers.push_back(std::move(l));
    }
    if (version >= 2 && f.has("transforms"))
        read_transforms(f, qm, path);
    if (version >= 2 && f.has("float_parts")) {
        const h5::Location fp = f.open_group("float_parts");
        const auto names = fp.read_strings("names");
        for (size_t i = 0; i < names.size(); ++i) {
            const at::Tensor t = fp.read_tensor(layer_group_name(i));
            if (t.scalar_type() != at::kFloat || t.dim() != 1 || !t.isfinite().all().item<bool>())
                fp.fail("/float_parts/" + layer_group_name(i),
                        "'" + names[i] + "' must be a finite float32 vector");
            qm.float_parts[names[i]] = t;
        }
    }
    if (version >= 2 && f.has("distill")) {
        const h5::Location d = f.open_group("distill");
        const at::Tensor loss = d.read_tensor("loss");
        if (loss.scalar_type() != at::kDouble || loss.dim() != 1)
            d.fail("/distill/loss", "expected float64 [steps]");
        const at::Tensor lc = loss.contiguous();
        qm.distill_loss.assign(lc.data_ptr<double>(), lc.data_ptr<double>() + lc.numel());
    }
    return qm;
}

#endif  // ZP_HAVE_HDF5

}  // namespace zp::session
