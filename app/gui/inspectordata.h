// What the layer inspector shows for one (layer, row, group), computed off the GUI thread from
// the engine's analysis functions (core/analysis/loss_curves.h) and the job's results.
#pragma once

#include <QMetaType>
#include <QString>

#include <functional>
#include <vector>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"
#include "core/analysis/loss_curves.h"

struct InspectorRequest {
    ModelPtr model;
    int layer = 0, row = 0, group = 0;
    JobSettings settings;  // bits, group size, method (the job's, or the panel's when no job ran)
    LayerResult result;    // the job's result for this layer, if any
};

struct InspectorData {
    int layer = -1, row = 0, group = 0, rows = 0, groups = 0, bits = 2;
    int64_t groupSize = 0;
    QString layerName;
    JobSettings settings;
    bool fromJob = false;                    // row errors and importance come from a finished job
    std::vector<double> w, h;                // the group's weights and importance (un-normalised)
    std::vector<double> importance;          // the whole layer's importance [cols]
    zp::analysis::ScaleLandscape landscape;  // NeUQI's search replayed on this group
    zp::analysis::ZCurve zcurve;             // L(z) at NeUQI's chosen scale
    zp::analysis::LossGrid grid;             // L(s, z)
    double minmaxScale = 0, minmaxZero = 0, minmaxLoss = 0;
    double minmaxZeroLossAtChosen = 0;  // L(chosen s, Min-Max z)
    double jobScale = 0, jobZero = 0,
           jobLoss = -1;  // the job's parameters for this group (jobLoss < 0: none)
    std::vector<double> rowMinMax, rowMethod;  // per-row mean group loss
    QString rowMethodName;
};

Q_DECLARE_METATYPE(InspectorData)

// Throws zp::Error / std::exception; zp::Cancelled when stillWanted() turns false.
InspectorData computeInspector(const InspectorRequest& request,
                               const std::function<bool()>& stillWanted);
