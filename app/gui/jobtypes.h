// The values a quantization job takes and hands back. Plain values: they cross from the worker
// thread to the GUI thread through queued signals (tensors are reference-counted and never written
// after they are sent).
#pragma once

#include <QMetaType>
#include <QString>

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "core/quant/quantizer.h"

struct JobSettings {
    zp::quant::Method method = zp::quant::Method::NeUQI;
    int bits = 2;
    int64_t groupSize = 128;  // -1: channel-wise
    uint64_t seed = 0;        // calibration seed (the demo draws its importance from it)
    QString device = QStringLiteral("cpu");  // "cpu" or "cuda:N"

    zp::quant::QuantConfig quantConfig() const;
    QString describe() const;  // "NeUQI, 2 bits, g128, seed 0, cpu"
};

struct LayerResult {
    int layer = -1;  // index into WorkbenchModel::layers()
    JobSettings settings;
    int64_t groupSize = 0;  // resolved (cols for channel-wise)
    double diagLoss = 0.0, diagLossMinMax = 0.0;
    double seconds = 0.0;
    at::Tensor scale, zero;                 // [rows, groups], CPU
    at::Tensor groupLoss, groupLossMinMax;  // [rows, groups] float64, CPU
    at::Tensor importance;                  // [cols] float64, CPU: the h used
    bool valid() const { return layer >= 0; }
    double ratio() const { return diagLossMinMax > 0.0 ? diagLoss / diagLossMinMax : 1.0; }
};

struct JobProgress {
    int layersDone = 0, layerCount = 0;
    int block = 0, blockCount = 0;
    QString layerName;     // the layer being worked on
    double elapsed = 0.0;  // seconds
    double eta = -1.0;     // seconds left, -1 unknown
};

struct JobSummary {
    int layersDone = 0;
    double seconds = 0.0;
    double diagLoss = 0.0, diagLossMinMax = 0.0;  // summed over the layers done
};

Q_DECLARE_METATYPE(JobSettings)
Q_DECLARE_METATYPE(LayerResult)
Q_DECLARE_METATYPE(JobProgress)
Q_DECLARE_METATYPE(JobSummary)

QString methodLabel(zp::quant::Method m);
QString formatSeconds(double s);  // "0.4 s", "2 min 05 s"
